"""The engines' inbound routes: one table, answered by the lean path and documented by FastAPI.

`InboundTable` matches a request to a declared route and runs it (authentication when declared,
the bounded body, the handler); `document` adds each declared route to the FastAPI app so that it
appears in the OpenAPI schema with its summary, status, path parameters, body schema, token
and error answers. Those
FastAPI routes run the same table, should a request ever reach them past the lean path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from wahooks.accounts import Principal
from wahooks.api.body import MAX_BODY_BYTES, read_body
from wahooks.api.openapi import BEARER, errors, json_body
from wahooks.api.responses import json_response
from wahooks.engines.routes import InboundRequest, InboundRoute
from wahooks.models import User

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class Authenticator(Protocol):
    async def authenticate(self, authorization: str | None) -> Principal: ...


class InboundTable:
    def __init__(self, routes: Sequence[InboundRoute], accounts: Authenticator) -> None:
        self.routes = tuple(routes)
        self._accounts = accounts
        self._patterns = tuple((_pattern(route.path), route) for route in self.routes)

    def match(self, path: str) -> tuple[InboundRoute, dict[str, str]] | None:
        for pattern, route in self._patterns:
            found = pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    async def run(
        self, route: InboundRoute, path_params: Mapping[str, str],
        headers: Sequence[tuple[bytes, bytes]], receive: Receive,
    ) -> Any:
        """The handler's answer; errors are raised for the caller to answer."""
        user = await self._user(route, headers)
        body = await read_body(receive, _header(headers, b"content-length"), body_limit(route))
        return await route.handler(InboundRequest(path_params, headers, body, user))

    async def run_read(
        self, route: InboundRoute, path_params: Mapping[str, str],
        headers: Sequence[tuple[bytes, bytes]], body: bytes,
    ) -> Any:
        """`run` for a body the server has read whole (within `body_limit(route)`)."""
        user = await self._user(route, headers)
        return await route.handler(InboundRequest(path_params, headers, body, user))

    async def _user(
        self, route: InboundRoute, headers: Sequence[tuple[bytes, bytes]]
    ) -> User | None:
        if not route.authenticated:
            return None
        principal = await self._accounts.authenticate(_header(headers, b"authorization"))
        return principal.user


def body_limit(route: InboundRoute) -> int:
    """The most bytes the route's body may have (413 beyond)."""
    return route.max_body_bytes if route.max_body_bytes is not None else MAX_BODY_BYTES


def document(app: FastAPI, table: InboundTable) -> None:
    for route in table.routes:
        if route.documented:
            _add_documented(app, table, route)


def _add_documented(app: FastAPI, table: InboundTable, route: InboundRoute) -> None:
    async def endpoint(request: Request) -> Response:
        answer = await table.run(route, request.path_params, request.scope["headers"],
                                 request.receive)
        return json_response(answer, route.status_code)

    extra: dict[str, Any] = {"parameters": [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "title": name.replace("_", " ").title()}}
        for name in _PLACEHOLDER.findall(route.path)
    ]}
    if route.request_schema is not None:
        extra.update(json_body(route.request_schema))
    if route.authenticated:
        extra["security"] = BEARER
    app.add_api_route(
        route.path, endpoint, methods=["POST"], status_code=route.status_code,
        summary=route.summary, tags=[route.tag], openapi_extra=extra,
        responses=errors(*route.error_statuses), name=route.handler.__name__,
    )


def _pattern(path: str) -> re.Pattern[str]:
    """`/a/{name}/b` as a regular expression with one named group per placeholder segment."""
    parts = _PLACEHOLDER.split(path)
    regex = "".join(
        f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None
