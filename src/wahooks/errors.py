"""The errors wahooks raises, one tree with one root.

    WahooksError
    ├── BadRequest              400: the request is malformed or a value is not acceptable
    │   └── ValidationFailed    400: field checks failed; `messages` lists each one (NestJS shape)
    ├── Unauthorized            401: missing, malformed, unknown or revoked API token
    ├── Forbidden               403: the resource belongs to another account
    ├── NotFound                404: no such resource (unknown and malformed ids alike)
    ├── Conflict                409: the resource is not in a state that allows this
    ├── PayloadTooLarge         413: the request body is over the limit
    ├── EngineError             502: the WhatsApp engine (WAHA) refused or failed the call
    ├── EngineUnavailable       503: the WhatsApp engine cannot serve this right now
    └── DatabaseUnavailable     503: the database cannot be reached right now

Each class's docstring is its default message. Storage and engine code raise these; one handler in
`wahooks.api.errors` turns them into HTTP answers, so no module below the API knows about HTTP.
"""

from __future__ import annotations


class WahooksError(Exception):
    """Something went wrong."""

    status_code = 500

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class BadRequest(WahooksError):
    """The request is not valid."""

    status_code = 400


class ValidationFailed(BadRequest):
    """The request body failed validation."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


class Unauthorized(WahooksError):
    """Missing or invalid Authorization header"""

    status_code = 401


class Forbidden(WahooksError):
    """You do not have access to this resource"""

    status_code = 403


class NotFound(WahooksError):
    """Not found"""

    status_code = 404


class Conflict(WahooksError):
    """The resource is not in a state that allows this"""

    status_code = 409


class PayloadTooLarge(WahooksError):
    """The request body is too large"""

    status_code = 413


class EngineError(WahooksError):
    """The WhatsApp engine failed to do this"""

    status_code = 502


class EngineUnavailable(WahooksError):
    """The WhatsApp engine is not available right now, please try again"""

    status_code = 503


class DatabaseUnavailable(WahooksError):
    """The database is unavailable right now, please retry"""

    status_code = 503
