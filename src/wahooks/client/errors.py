"""The one error the SDK raises for an answer the API refused."""

from __future__ import annotations

from typing import Any


class WAHooksError(Exception):
    """The API answered with an error status.

    `message` is the API's own `message` (the HTTP reason when the answer has none; a list of
    validation messages is joined with "; "), `status_code` the HTTP status and `body` the parsed
    answer (None when it was empty), as in the official `wahooks` package.
    """

    def __init__(self, message: str, status_code: int, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body

    def __repr__(self) -> str:
        return f"WAHooksError({self.message!r}, {self.status_code!r})"
