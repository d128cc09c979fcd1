"""One mapping from errors to HTTP answers, in the NestJS shape the official clients read:
`{"message": ..., "error": <HTTP reason>, "statusCode": <int>}` (message is a list for field
validation). Nothing reaches a client as a stack trace."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from wahooks.api.openapi import http_routes
from wahooks.api.responses import json_response
from wahooks.errors import ValidationFailed, WahooksError

log = logging.getLogger(__name__)


def error_body(status: int, message: Any) -> dict[str, Any]:
    return {"message": message, "error": HTTPStatus(status).phrase, "statusCode": status}


def error_response(status: int, message: Any) -> Response:
    return json_response(error_body(status, message), status)


def body_for(exc: WahooksError) -> dict[str, Any]:
    """The answer's body for one of our errors (field validation lists every message)."""
    if isinstance(exc, ValidationFailed):
        return error_body(exc.status_code, exc.messages)
    return error_body(exc.status_code, exc.message)


async def on_wahooks_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WahooksError)
    return json_response(body_for(exc), exc.status_code)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = f"Cannot {request.method} {request.url.path}"
    if exc.status_code == 404:
        # NestJS answers an unknown route with 404 "Cannot GET /api/x".
        return error_response(404, message)
    if exc.status_code == 405:
        # A known path with another method (NestJS said 404 here): say which methods it has.
        response = error_response(405, message)
        methods = exc.methods if isinstance(exc, OnlyMethods) else allowed_methods(request)
        response.headers["Allow"] = ", ".join(methods)
        return response
    return error_response(exc.status_code, exc.detail)


class OnlyMethods(StarletteHTTPException):
    """405 from a route that knows the methods its path has (the table would name others too)."""

    def __init__(self, *methods: str) -> None:
        super().__init__(405)
        self.methods = sorted(methods)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's own 405 names only the first
    route that matched the path, one of several here)."""
    path = request.url.path
    methods: set[str] = set()
    for route in http_routes(request.app.router.routes):
        if route.methods and route.path_regex.match(path):
            methods |= route.methods
    return sorted(methods)


async def on_request_validation(request: Request, exc: Exception) -> Response:
    """FastAPI's own checks (query parameters) answer like every other validation error: 400 with
    a list of messages, not FastAPI's 422 `{"detail": ...}`."""
    assert isinstance(exc, RequestValidationError)
    messages = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
        messages.append(f"{name}: {error.get('msg', 'is not valid')}")
    return error_response(400, messages)


INTERNAL_ERROR = {"statusCode": 500, "message": "Internal server error"}


async def on_client_disconnect(request: Request, exc: Exception) -> Response:
    """The client left mid-body (or the server closed it: body timeout): nobody to answer, no
    error to log."""
    log.info("client left before its body arrived",
             extra={"action": "api.client_disconnect", "path": request.url.path})
    return error_response(400, "Request body incomplete")


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception(
        "unhandled error", extra={"action": "api.error", "path": request.url.path}
    )
    return json_response(INTERNAL_ERROR, 500)
