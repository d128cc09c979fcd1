"""The OpenAPI document as the API really answers: request bodies, error answers, the bearer token.

The routes read their JSON bodies themselves (`deps.BodyDep`, the engines' inbound routes), so
FastAPI sees no body model: each route declares its body's schema with `json_body`, next to the
validation that enforces it. The error answers a route can give follow from what the route is,
and are added here once for all:

- a JSON body: 400 (validation, not JSON, not an object) and 413 (over the body limit);
- query parameters: 400;
- a token: 401, and 503 when the database cannot be reached; with path parameters also 403
  (another account's resource) and 404;
- anything more a route can answer (the engine's 409/502/503, a 409 on a pending redelivery) it
  declares in `responses=` with `errors(...)`.

FastAPI's 422 is removed: validation errors answer 400 (`api.errors.on_request_validation`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, Route

from wahooks.api.deps import json_object, principal_of

SECURITY_SCHEME = "bearer"
BEARER: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}]
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error answer, in the NestJS shape the official clients read",
    "required": ["message", "statusCode"],
    "properties": {
        "message": {
            "description": "What went wrong; field validation lists every problem",
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        },
        "error": {"type": "string", "description": "The HTTP reason phrase"},
        "statusCode": {"type": "integer"},
    },
}
ENGINE_STATUSES = (400, 404, 409, 502, 503)
"""What a route that asks the engine can answer beyond the usual: the engine refused the request
(400, 404, 409: WAHA's own answer passed on, a deleted connection), or failed (502) or could not
be reached (503)."""


def json_body(schema: Mapping[str, Any], *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` for a route that reads a JSON object body of this schema."""
    return {"requestBody": {
        "required": required, "content": {"application/json": {"schema": dict(schema)}},
    }}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for error answers a route gives beyond those this module adds by itself."""
    return {status: _error_response(status) for status in statuses}


def describe(app: FastAPI) -> None:
    """Have `app` serve the completed document at its openapi_url (built once, on first use)."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes,
    )
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            _complete(operation, authenticated=needs_token(route))
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {SECURITY_SCHEME: {
        "type": "http", "scheme": "bearer",
        "description": "An API token of the account (wh_...), as `Authorization: Bearer wh_...`",
    }}
    return schema


def http_routes(routes: Iterable[BaseRoute]) -> Iterator[Route]:
    """Every HTTP route, those of included routers too (FastAPI keeps them behind a wrapper)."""
    for context in iter_route_contexts(list(routes)):
        if isinstance(context.original_route, Route):
            yield context.original_route


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    return (route for route in http_routes(routes) if isinstance(route, APIRoute))


def needs_token(route: APIRoute) -> bool:
    return _depends_on(route.dependant, principal_of) \
        or "security" in (route.openapi_extra or {})


def reads_body(route: APIRoute) -> bool:
    return _depends_on(route.dependant, json_object) \
        or "requestBody" in (route.openapi_extra or {})


def _complete(operation: dict[str, Any], *, authenticated: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    parameters = operation.get("parameters", [])
    statuses: set[int] = set()
    if "requestBody" in operation:
        statuses |= {400, 413}
    if any(parameter["in"] == "query" for parameter in parameters):
        statuses.add(400)
    if authenticated:
        operation["security"] = BEARER
        statuses |= {401, 503}
        if any(parameter["in"] == "path" for parameter in parameters):
            statuses |= {403, 404}
    for status in sorted(statuses):
        responses.setdefault(str(status), _error_response(status))


def _error_response(status: int) -> dict[str, Any]:
    return {"description": HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": ERROR_REF}}}


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(
        dependency.call is call or _depends_on(dependency, call)
        for dependency in dependant.dependencies
    )
