"""Live events over the API's WebSocket (`/api/ws`), for the sync and the async client.

Each event is the server's JSON frame as a dict: `{"event", "connectionId", "payload",
"timestamp"}`, plus `"envelope"` (the whole event exactly as webhooks receive it) when the stream
asked for it. A stream reconnects after `reconnect_delay` seconds whenever the connection drops,
like the official client, except when the server refuses the token (close code 4001 or 4003, or
an HTTP 4xx answer to the upgrade): that raises WAHooksError, since retrying cannot help.

Needs the `websockets` package (`pip install 'wahooks-server[realtime]'`), imported only when a stream
starts, so the SDK itself needs nothing beyond httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wahooks.client.errors import WAHooksError

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection as AsyncConnection
    from websockets.sync.client import ClientConnection as SyncConnection

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], Any]
ConnectHandler = Callable[[], Any]
DisconnectHandler = Callable[[int | None, str], Any]

RECONNECT_DELAY = 5.0
PING_INTERVAL = 30.0
PING_TIMEOUT = 10.0
MAX_FRAME_BYTES = 64 * 1024 * 1024
AUTH_CLOSE_CODES = {4001: "Missing token", 4003: "Invalid token"}


def stream_url(base_url: str, api_key: str, *, envelope: bool = False) -> str:
    """`ws(s)://<host>/api/ws?token=...` for an API at `base_url` (http or https)."""
    scheme = "wss" if base_url.startswith("https") else "ws"
    host = base_url.split("://", 1)[-1].rstrip("/")
    url = f"{scheme}://{host}/api/ws?token={quote(api_key, safe='')}"
    return url + "&envelope=true" if envelope else url


def _refused(code: int | None, reason: str) -> WAHooksError | None:
    """The error to stop on, if this close means the server will never accept us."""
    if code in AUTH_CLOSE_CODES:
        message = reason or AUTH_CLOSE_CODES[code]
        return WAHooksError(message, 401, {"code": code, "reason": message})
    return None


def _rejected_upgrade(exc: Exception) -> WAHooksError | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500:
        return WAHooksError(
            f"The server refused the live event stream: HTTP {status}", status, None
        )
    return None


def _frame(message: str | bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(message)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


class WAHooksEventStream:
    """Live events, blocking: `run_forever()` calls `on_event` for each one, or iterate.

    `close()` (from any thread, or from `on_event`) ends the stream.
    """

    def __init__(
        self,
        url: str,
        on_event: EventHandler | None = None,
        *,
        reconnect_delay: float = RECONNECT_DELAY,
        on_connect: ConnectHandler | None = None,
        on_disconnect: DisconnectHandler | None = None,
    ) -> None:
        self._url = url
        self.on_event = on_event
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.reconnect_delay = reconnect_delay
        self._closed = False
        self._stop = threading.Event()
        self._ws: SyncConnection | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    def run_forever(self) -> None:
        """Block and hand every event to `on_event` until `close()`. Reconnects by itself."""
        for event in self:
            if self.on_event is None or self._closed:
                continue
            try:
                self.on_event(event)
            except Exception:
                # As in the official client, a failing handler does not end the stream.
                log.exception("on_event failed", extra={"action": "stream.handler_error"})

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake
        from websockets.sync.client import connect

        while not self._closed:
            code: int | None = None
            reason = ""
            try:
                with connect(
                    self._url, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT,
                    max_size=MAX_FRAME_BYTES, open_timeout=10,
                ) as ws:
                    self._ws = ws
                    if self._closed:
                        break
                    if self.on_connect is not None:
                        self.on_connect()
                    try:
                        for message in ws:
                            event = _frame(message)
                            if self._closed:  # closed meanwhile: hand over nothing more
                                return
                            if event is not None:
                                yield event
                    except ConnectionClosed:
                        pass
                    code, reason = ws.close_code, ws.close_reason or ""
            except InvalidHandshake as exc:
                refused = _rejected_upgrade(exc)
                if refused is not None:
                    raise refused from None
                reason = str(exc)
            except (OSError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
            finally:
                self._ws = None
            if self._closed:
                break
            refused = _refused(code, reason)
            if refused is not None:
                raise refused
            if self.on_disconnect is not None:
                self.on_disconnect(code, reason)
            self._stop.wait(self.reconnect_delay)

    def close(self) -> None:
        self._closed = True
        self._stop.set()
        ws = self._ws
        if ws is not None:
            ws.close()


class AsyncWAHooksEventStream:
    """Live events for asyncio: `await run_forever()` calls `on_event` (a function or a
    coroutine function) for each one, or `async for event in stream`. `await close()` ends it."""

    def __init__(
        self,
        url: str,
        on_event: EventHandler | None = None,
        *,
        reconnect_delay: float = RECONNECT_DELAY,
        on_connect: ConnectHandler | None = None,
        on_disconnect: DisconnectHandler | None = None,
    ) -> None:
        self._url = url
        self.on_event = on_event
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.reconnect_delay = reconnect_delay
        self._closed = False
        self._stop: asyncio.Event | None = None
        self._ws: AsyncConnection | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def run_forever(self) -> None:
        async for event in self:
            if self.on_event is None or self._closed:
                continue
            try:
                outcome = self.on_event(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("on_event failed", extra={"action": "stream.handler_error"})

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake

        self._stop = asyncio.Event()
        while not self._closed:
            code: int | None = None
            reason = ""
            try:
                async with connect(
                    self._url, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT,
                    max_size=MAX_FRAME_BYTES, open_timeout=10,
                ) as ws:
                    self._ws = ws
                    if self._closed:
                        break
                    if self.on_connect is not None:
                        self.on_connect()
                    try:
                        async for message in ws:
                            event = _frame(message)
                            if self._closed:  # closed meanwhile: hand over nothing more
                                return
                            if event is not None:
                                yield event
                    except ConnectionClosed:
                        pass
                    code, reason = ws.close_code, ws.close_reason or ""
            except InvalidHandshake as exc:
                refused = _rejected_upgrade(exc)
                if refused is not None:
                    raise refused from None
                reason = str(exc)
            except (OSError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
            finally:
                self._ws = None
            if self._closed:
                break
            refused = _refused(code, reason)
            if refused is not None:
                raise refused
            if self.on_disconnect is not None:
                self.on_disconnect(code, reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.reconnect_delay)

    async def close(self) -> None:
        self._closed = True
        if self._stop is not None:
            self._stop.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
