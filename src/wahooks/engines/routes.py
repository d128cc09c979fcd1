"""Inbound routes an engine declares: what drives it from outside (the sandbox's simulated phone,
WAHA's signed webhook), independent of any web framework.

The API serves each declaration on its lean path, in front of FastAPI, and documents the same
declaration in the OpenAPI schema; an engine never imports the API. A handler gets the request as a
small record and returns the JSON answer, or raises one of `wahooks.errors` for the error answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from wahooks.errors import BadRequest
from wahooks.models import User
from wahooks.value_records import value_record


@value_record
class InboundRequest:
    path_params: Mapping[str, str]
    headers: Sequence[tuple[bytes, bytes]]
    """As the server received them: lower-case names, raw bytes."""
    body: bytes
    user: User | None
    """The authenticated user; None on a route that does not ask for a token."""

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None

    def json_object(self) -> dict[str, Any]:
        return parse_json_object(self.body)

    def authenticated_user(self) -> User:
        assert self.user is not None, "route declared without authentication"
        return self.user


InboundHandler = Callable[[InboundRequest], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class InboundRoute:
    """One POST route. `path` uses `{name}` placeholders, one path segment each."""

    path: str
    summary: str
    handler: InboundHandler
    tag: str
    authenticated: bool = True
    status_code: int = 201
    request_schema: Mapping[str, Any] | None = None
    """The JSON body's schema, for the docs; None when the route takes no JSON object."""
    max_body_bytes: int | None = None
    """A tighter cap than the API's on this route's body (413 beyond it); None for the API's."""
    documented: bool = True
    """False for an answer kept for a route another engine serves (a 404 with its own message)."""
    error_statuses: tuple[int, ...] = ()
    """Error answers beyond those every route of its kind gives (a body: 400 and 413; a token:
    401, 403, 404 and 503), for the docs."""


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object (the SDKs send none)."""
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body
