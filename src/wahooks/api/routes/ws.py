"""`GET /api/ws?token=wh_...`: the live event stream of the token's account.

The original's contract: the socket is accepted, then the token checked; a missing token closes it
with 4001 `Missing token`, an unknown or revoked one with 4003 `Invalid token`, a failure to check
with 4000 `Authentication failed`. Then one JSON text frame per event of the account's connections
(see `wahooks.live`). Client messages are read and ignored; pings are answered by the server.
`&envelope=true` adds each event's whole webhook body to its frame.

Unlike the original, the token is checked again every REVALIDATE_SECONDS, so revoking it also
ends the streams it opened (4003).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter
from starlette.websockets import WebSocket, WebSocketDisconnect

from wahooks.accounts import Accounts, Principal
from wahooks.errors import Unauthorized
from wahooks.live import LiveEvents, Subscriber

if TYPE_CHECKING:
    from wahooks.services import Services

log = logging.getLogger(__name__)

router = APIRouter(tags=["live events"])

REVALIDATE_SECONDS = 30.0
CLOSE_TIMEOUT = 5.0
_TRUE = frozenset({"1", "true", "yes"})


@router.websocket("/api/ws")
async def live_events(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    live: LiveEvents = websocket.app.state.live
    await websocket.accept()
    token = websocket.query_params.get("token")
    principal = await _authenticate(websocket, services.accounts, token)
    if principal is None or token is None:
        return
    subscriber = live.subscribe(
        principal.user.id,
        base_url=_public_base_url(websocket),
        envelope=websocket.query_params.get("envelope", "").lower() in _TRUE,
    )
    try:
        await _stream(websocket, subscriber, services.accounts, token)
    finally:
        live.unsubscribe(subscriber)


async def _authenticate(
    websocket: WebSocket, accounts: Accounts, token: str | None
) -> Principal | None:
    if not token:
        await websocket.close(4001, "Missing token")
        return None
    try:
        return await accounts.authenticate_token(token)
    except Unauthorized:
        await websocket.close(4003, "Invalid token")
    except Exception:
        log.exception("websocket authentication failed", extra={"action": "live.auth_error"})
        await websocket.close(4000, "Authentication failed")
    return None


async def _stream(
    websocket: WebSocket, subscriber: Subscriber, accounts: Accounts, token: str
) -> None:
    tasks = [
        asyncio.create_task(_send_frames(websocket, subscriber)),
        asyncio.create_task(_read_until_gone(websocket, subscriber)),
        asyncio.create_task(_recheck_token(accounts, token, subscriber)),
    ]
    try:
        await subscriber.stopped.wait()
    finally:
        # A sender stuck on a client that reads nothing is cancelled here, mid-wait.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if subscriber.close_code is not None:
        # The close frame queues behind whatever the client has not read yet; one that never
        # reads again is left to the server's own timeouts once this handler returns.
        with contextlib.suppress(TimeoutError, OSError, RuntimeError, WebSocketDisconnect):
            await asyncio.wait_for(
                websocket.close(subscriber.close_code, subscriber.close_reason), CLOSE_TIMEOUT
            )


async def _send_frames(websocket: WebSocket, subscriber: Subscriber) -> None:
    try:
        while (frame := await subscriber.next_frame()) is not None:
            await websocket.send_text(frame)
    except (WebSocketDisconnect, OSError, RuntimeError):
        subscriber.stop()


async def _read_until_gone(websocket: WebSocket, subscriber: Subscriber) -> None:
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        subscriber.stop()


async def _recheck_token(accounts: Accounts, token: str, subscriber: Subscriber) -> None:
    while True:
        await asyncio.sleep(REVALIDATE_SECONDS)
        try:
            await accounts.authenticate_token(token)
        except Unauthorized:
            subscriber.stop(4003, "Invalid token")
            return
        except Exception:
            log.exception("websocket token check failed", extra={"action": "live.auth_error"})


def _public_base_url(websocket: WebSocket) -> str:
    """This API's URL as the client reached it, for the media links in frames."""
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    host = websocket.headers.get("host") or websocket.url.netloc
    return f"{scheme}://{host}"
