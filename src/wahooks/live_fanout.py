"""Live events across API processes on PostgreSQL: a WebSocket hears every event of its account,
whichever process ingested it.

Each process announces which accounts it has WebSocket subscribers for (when that changes, and
as a heartbeat). A process that ingests an event for an account with subscribers elsewhere sends
it with NOTIFY on `wahooks_live` (an event too large for a NOTIFY payload is stashed in a table
for a minute and its id sent instead); the other processes hand it to their local subscribers.
When nobody listens anywhere, an event costs nothing extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import orjson

from wahooks.connections import ConnectionService
from wahooks.live import LiveEvents
from wahooks.models import Connection
from wahooks.storage.postgres.database import LIVE_CHANNEL, LIVE_PRESENCE_CHANNEL
from wahooks.storage.postgres.live import PostgresLive

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
_MAX_NOTIFY_BYTES = 7900  # PostgreSQL's limit is 8000 bytes per payload


class LiveFanout:
    def __init__(
        self,
        store: PostgresLive,
        live: LiveEvents,
        connections: ConnectionService,
        *,
        process_id: str,
    ) -> None:
        self._store = store
        self._live = live
        self._connections = connections
        self._process_id = process_id
        self._remote: set[str] = set()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._live.on_accounts_changed = self._changed.set
        self._store.listen(LIVE_CHANNEL, self._received)
        self._store.listen(
            LIVE_PRESENCE_CHANNEL, lambda _: self._spawn(self._refresh()),
            on_connect=lambda: self._spawn(self._refresh()),
        )
        self._loop_task = asyncio.create_task(self._announce_loop(), name="wahooks-live-fanout")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._store.announce_live_listeners(self._process_id, ())

    def publish(self, connection: Connection, event: Mapping[str, Any], body: bytes) -> None:
        """An `Ingest` listener: send the event on to processes with subscribers for it."""
        if connection.user_id in self._remote:
            self._spawn(self._send(connection.id, body))

    async def _send(self, connection_id: str, body: bytes) -> None:
        message: dict[str, Any] = {"p": self._process_id, "c": connection_id}
        payload = orjson.dumps({**message, "b": body.decode()})
        if len(payload) > _MAX_NOTIFY_BYTES:
            payload = orjson.dumps({**message, "s": await self._store.stash_live_event(body)})
        await self._store.notify(LIVE_CHANNEL, payload.decode())

    def _received(self, payload: str) -> None:
        self._spawn(self._deliver_locally(payload))

    async def _deliver_locally(self, payload: str) -> None:
        message = orjson.loads(payload)
        if message.get("p") == self._process_id:
            return
        body = message["b"].encode() if "b" in message else await self._store.stashed_live_event(
            int(message["s"])
        )
        connection = await self._connections.by_id(str(message["c"]))
        if body is None or connection is None:
            return
        self._live.publish(connection, orjson.loads(body), body)

    async def _announce_loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self._store.announce_live_listeners(self._process_id, self._live.accounts())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), HEARTBEAT_SECONDS)
            self._changed.clear()

    async def _refresh(self) -> None:
        self._remote = await self._store.live_listener_accounts(
            self._process_id, int(3 * HEARTBEAT_SECONDS * 1000)
        )

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "live event fan-out failed",
                extra={"action": "live.fanout", "error": str(task.exception())},
            )
