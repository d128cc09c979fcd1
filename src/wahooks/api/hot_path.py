"""The ingest hot path, answered before FastAPI sees the request.

Routes that an engine or a load of events drives (sandbox inbound and presence; the WAHA event
ingest) run in front of FastAPI's middleware stack and dependency injection, which cost several
times the handler itself per request. They share their handlers, validation and error bodies with
the documented FastAPI routes; only the plumbing differs. Everything else passes through.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from wahooks.accounts import Principal
from wahooks.api.deps import MAX_BODY_BYTES, parse_json_object
from wahooks.api.errors import INTERNAL_ERROR, body_for
from wahooks.api.routes.sandbox import change_presence, receive_message
from wahooks.api.routes.waha_events import receive_waha_event
from wahooks.engines.waha import INGEST_PATH
from wahooks.errors import BadRequest, PayloadTooLarge, WahooksError

if TYPE_CHECKING:
    from wahooks.services import Services

log = logging.getLogger(__name__)

Handler = Callable[["Services", Principal, str, dict[str, Any]], Awaitable[Any]]

_ROUTES: tuple[tuple[re.Pattern[str], Handler], ...] = (
    (re.compile(r"^/api/connections/([^/]+)/sandbox/inbound$"), receive_message),
    (re.compile(r"^/api/connections/([^/]+)/sandbox/presence$"), change_presence),
)


class HotPath:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self._services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path == INGEST_PATH:
                await self._serve_waha_event(scope, receive, send)
                return
            for pattern, handler in _ROUTES:
                match = pattern.match(path)
                if match:
                    await self._serve(handler, match.group(1), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self, handler: Handler, resource_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        async def work() -> Any:
            authorization = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                    break
            principal = await self._services.accounts.authenticate(authorization)
            body = parse_json_object(await _read_body(receive))
            return await handler(self._services, principal, resource_id, body)

        await _answer(scope, send, work)

    async def _serve_waha_event(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WAHA's signed events: no bearer token, the raw body checked against its HMAC."""
        async def work() -> Any:
            raw = await _read_body(receive)
            return await receive_waha_event(self._services, scope["headers"], raw)

        await _answer(scope, send, work)


async def _answer(scope: Scope, send: Send, work: Callable[[], Awaitable[Any]]) -> None:
    """201 with what `work` returns, or the error body FastAPI's handlers would give."""
    try:
        status, payload = 201, await work()
    except WahooksError as exc:
        status, payload = exc.status_code, body_for(exc)
    except Exception:
        log.exception("unhandled error", extra={"action": "api.error", "path": scope["path"]})
        status, payload = 500, INTERNAL_ERROR
    await _respond(send, status, payload)


async def _respond(send: Send, status: int, payload: Any) -> None:
    content = orjson.dumps(payload)
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


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The request body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
