"""The MCP endpoint behind `/mcp`: Streamable HTTP, authenticated by the API itself.

Each tool call goes through the server's own ASGI app in-process (`httpx.ASGITransport`), with the
token of the MCP request, so the API's authentication, ownership checks and error answers apply
unchanged and nothing is written twice. A request without a valid token gets the API's own 401
(checked with `GET /api/me`) before any MCP handling.

Stateless, with JSON answers: no MCP session lives in a process, so any API process behind a load
balancer can answer any request (the tools need no server-to-client requests).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from wahooks.client import WAHooksError
from wahooks.mcp.api_client import ApiClient
from wahooks.mcp.server import build_server

# Never resolved: the in-process transport hands every request straight to the app.
IN_PROCESS_URL = "http://wahooks.internal"
# Above the API's own body limit, so that an oversized media upload gets the API's clear 413.
MAX_REQUEST_BYTES = 64 * 1024 * 1024

# The tools' in-process API calls are not network requests (the API logs them itself), and a
# stateless transport "terminates a session" after every request: neither is news at INFO.
for _noisy in ("httpx", "mcp.server.streamable_http"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def bearer_token(headers: Mapping[str, str] | None) -> str:
    authorization = (headers or {}).get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class InProcessApi:
    """Per tool call, an SDK client over the server's ASGI app with the MCP request's token."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    @asynccontextmanager
    async def client(self, headers: Mapping[str, str] | None) -> AsyncIterator[ApiClient]:
        # raise_app_exceptions=False: a crash in the API reaches the agent as the API's own 500
        # answer, not as a Python exception.
        transport = httpx.ASGITransport(app=self._app, raise_app_exceptions=False)
        async with ApiClient(bearer_token(headers), IN_PROCESS_URL, transport=transport) as api:
            yield api


class McpEndpoint:
    """The API's 401 without a valid token, else the MCP Streamable HTTP transport."""

    def __init__(self, app: ASGIApp) -> None:
        self._api = InProcessApi(app)
        server = build_server(self._api)
        server.streamable_http_app(
            stateless_http=True, json_response=True, max_request_body_size=MAX_REQUEST_BYTES,
            # No browser cookie authenticates here, only the bearer token: DNS rebinding gains
            # an attacker nothing, and the check would refuse every deployment not on localhost.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._manager = server.session_manager

    def running(self) -> AbstractAsyncContextManager[None]:
        """The transport's task group, for as long as requests may come."""
        return self._manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = await self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._manager.handle_request(scope, receive, send)

    async def _refusal(self, scope: Scope) -> JSONResponse | None:
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope["headers"]}
        try:
            async with self._api.client(headers) as api:
                await api.get_me()
        except WAHooksError as exc:
            body: Any = exc.body if isinstance(exc.body, dict) else {"message": exc.message}
            return JSONResponse(body, exc.status_code, headers={"WWW-Authenticate": "Bearer"})
        return None
