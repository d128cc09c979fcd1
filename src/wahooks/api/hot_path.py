"""The ingest hot path, answered before FastAPI sees the request.

Routes that an engine or a load of events drives (the engine's inbound routes: sandbox inbound and
presence, the WAHA event ingest) run in front of FastAPI's middleware stack and dependency
injection, which cost several times the handler itself per request. The routes are the engine's
own declarations (`wahooks.api.inbound.InboundTable`), the same ones the OpenAPI schema documents;
their errors get the same bodies FastAPI's handlers give. Everything else passes through.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from wahooks.api.errors import INTERNAL_ERROR, body_for
from wahooks.api.inbound import InboundTable
from wahooks.engines.routes import InboundRoute
from wahooks.errors import WahooksError

log = logging.getLogger(__name__)


class HotPath:
    def __init__(self, app: ASGIApp, table: InboundTable) -> None:
        self.app = app
        """What every other request goes to: the FastAPI application."""
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            matched = self.table.match(scope["path"])
            if matched is not None:
                await self._serve(*matched, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(
        self, route: InboundRoute, path_params: dict[str, str],
        scope: Scope, receive: Receive, send: Send,
    ) -> None:
        async def work() -> Any:
            return await self.table.run(route, path_params, scope["headers"], receive)

        await _answer(scope, send, route.status_code, work)


async def _answer(
    scope: Scope, send: Send, status: int, work: Callable[[], Awaitable[Any]]
) -> None:
    status, content = await answer(status, work, scope["path"])
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
            (b"access-control-allow-origin", b"*"),
        ],
    })
    await send({"type": "http.response.body", "body": content})


async def answer(
    status: int, work: Callable[[], Awaitable[Any]], path: str
) -> tuple[int, bytes]:
    """`status` with the JSON of what `work` returns, or the error FastAPI's handlers would give."""
    try:
        payload = await work()
    except WahooksError as exc:
        status, payload = exc.status_code, body_for(exc)
    except Exception:
        log.exception("unhandled error", extra={"action": "api.error", "path": path})
        status, payload = 500, INTERNAL_ERROR
    return status, orjson.dumps(payload)
