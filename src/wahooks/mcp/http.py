"""`/mcp` on the wahooks server: the MCP tools over Streamable HTTP, as the bearer token's account
(the endpoint itself is `endpoint.py`).

The MCP package and httpx cost about half as much again to import as the rest of the server, so
they are loaded (in a thread, not to stall the event loop) and the transport started on the first
`/mcp` request: a server nobody asks for MCP starts as fast as before.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from wahooks.mcp.endpoint import McpEndpoint

log = logging.getLogger(__name__)

PATH = "/mcp"


class LazyMcpEndpoint:
    """The ASGI app at `/mcp`: loads the endpoint on first use, then hands it every request."""

    def __init__(self, api: ASGIApp) -> None:
        self._api = api
        self._ready: asyncio.Future[McpEndpoint] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = await self._started()
        await endpoint(scope, receive, send)

    async def _started(self) -> McpEndpoint:
        if self._ready is None:  # the first request starts it; the others wait for the same one
            self._ready = asyncio.get_running_loop().create_future()
            self._runner = asyncio.create_task(self._run(self._ready))
        return await asyncio.shield(self._ready)

    async def _run(self, ready: asyncio.Future[McpEndpoint]) -> None:
        """Own the transport's task group from start to stop (anyio wants one task for both)."""
        try:
            module = await asyncio.to_thread(importlib.import_module, "wahooks.mcp.endpoint")
            endpoint: McpEndpoint = module.McpEndpoint(self._api)
            async with endpoint.running():
                ready.set_result(endpoint)
                await self._stop.wait()
        except Exception as exc:
            # Every waiting and later /mcp request answers 500; the server itself goes on.
            log.exception("the MCP endpoint could not start", extra={"action": "mcp.start_failed"})
            if not ready.done():
                ready.set_exception(exc)
        finally:
            if not ready.done():  # cancelled while starting: the server is stopping
                ready.cancel()

    async def close(self) -> None:
        self._stop.set()
        if self._runner is not None:
            await self._runner


def mount_mcp(app: FastAPI, api: ASGIApp) -> None:
    """Serve the MCP tools at `/mcp` on `app`; `api` is the whole ASGI app the tools call (the
    one uvicorn serves, so that their requests take the same path as any other)."""
    endpoint = LazyMcpEndpoint(api)
    app.add_route(PATH, endpoint, include_in_schema=False)  # type: ignore[arg-type]
    serve_api = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with serve_api(app) as state:
            try:
                yield state
            finally:
                await endpoint.close()

    app.router.lifespan_context = lifespan
