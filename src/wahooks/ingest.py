"""The one path every engine event takes, whatever the engine.

Resolve the connection from the event's session, persist the event and one delivery per matching
webhook in one transaction, and only then acknowledge; the new deliveries go straight to the
dispatcher (claimed in that same transaction), or wait in the database when it is saturated. The
event's bytes are kept as the engine produced them: that is what every receiver gets.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from wahooks.chats import chat_of
from wahooks.clock import iso, now_ms
from wahooks.connections import ConnectionService
from wahooks.delivery.dispatcher import Dispatcher
from wahooks.engines.base import EngineEvent
from wahooks.errors import NotFound
from wahooks.models import Connection, DeliveryJob, Webhook
from wahooks.serialization import dumps
from wahooks.storage.records import NewEvent

log = logging.getLogger(__name__)

TEST_MESSAGE = "This is a test webhook event from WAHooks"

EventListener = Callable[[Connection, Mapping[str, Any], bytes], Awaitable[None] | None]


class EventStore(Protocol):
    async def ingest(
        self,
        events: list[NewEvent],
        *,
        claim_lease_ms: int | None,
        only_webhook: str | None = None,
        defer_webhooks: Collection[str] = (),
    ) -> list[list[DeliveryJob]]: ...


class Ingest:
    def __init__(
        self,
        store: EventStore,
        dispatcher: Dispatcher,
        connections: ConnectionService,
        *,
        lease_ms: int,
    ) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._connections = connections
        self._lease_ms = lease_ms
        self._listeners: list[EventListener] = []

    def add_listener(self, listener: EventListener) -> None:
        """Live subscribers (the WebSocket stream) hear every accepted event after it is stored."""
        self._listeners.append(listener)

    async def accept(self, events: Sequence[EngineEvent]) -> int:
        """Take events an engine emitted together: stored in one transaction, then dispatched.
        An event whose session has no live connection is dropped, never routed to some other
        connection. Returns how many were accepted."""
        accepted: list[tuple[Connection, Mapping[str, Any], NewEvent]] = []
        for item in events:
            event = item.event
            session, event_type = event.get("session"), event.get("event")
            if not isinstance(session, str) or not isinstance(event_type, str):
                log.warning("event without session or type dropped", extra={"action": "ingest.drop"})
                continue
            connection = await self._connections.by_session(session)
            if connection is None:
                log.info(
                    "event for unknown session dropped",
                    extra={"action": "ingest.drop", "session": session, "event": event_type},
                )
                continue
            if event_type == "session.status":
                connection = await self._connections.follow_engine_status(connection, event)
            raw = item.raw if item.raw is not None else dumps(event)
            accepted.append(
                (connection, event, NewEvent(connection.id, event_type, raw, chat_of(event)))
            )
        if not accepted:
            return 0
        await self._persist([new for _, _, new in accepted], only_webhook=None)
        for connection, event, new in accepted:
            for listener in self._listeners:
                pending = listener(connection, event, new.body)
                if pending is not None:
                    await pending
        return len(accepted)

    async def send_test(self, webhook: Webhook) -> str:
        """Deliver the product page's test event to one webhook through the same pipeline."""
        body = dumps({
            "event": "test",
            "session": "test",
            "payload": {"message": TEST_MESSAGE, "timestamp": iso(now_ms())},
        })
        jobs = await self._persist(
            [NewEvent(webhook.connection_id, "test", body)], only_webhook=webhook.id
        )
        if not jobs:  # deleted between the ownership check and now
            raise NotFound("Webhook config not found")
        return jobs[0].delivery_id

    async def _persist(
        self, events: list[NewEvent], *, only_webhook: str | None
    ) -> list[DeliveryJob]:
        dispatcher = self._dispatcher
        claim = dispatcher.wants_more()
        per_event = await self._store.ingest(
            events,
            claim_lease_ms=self._lease_ms if claim else None,
            only_webhook=only_webhook,
            defer_webhooks=dispatcher.saturated_webhooks(),
        )
        jobs = [job for event_jobs in per_event for job in event_jobs]
        claimed = [job for job in jobs if job.attempt]
        if claimed:
            dispatcher.submit(claimed)
        if not claim and jobs:
            # Left in the database for the claim loop. (Deliveries deferred for a saturated
            # endpoint need no wake-up: the dispatcher looks again when that endpoint drains.)
            dispatcher.poke()
        return jobs
