"""The one path every engine event takes, whatever the engine.

Resolve the connection from the event's session, persist the event and one delivery per matching
webhook in one transaction, and only then acknowledge; the new deliveries go straight to the
dispatcher (claimed in that same transaction), or wait in the database when it is saturated. The
event's bytes are kept as the engine produced them: that is what every receiver gets.

An engine that may send an event again (WAHA retries until it gets a 2xx) gives it a replay key:
the key is taken in that same transaction, and an event whose key was taken before is skipped, so
no crash can leave a key taken without its event (the engine's retry would then be refused and the
event lost). A session.status event moves the connection's status once it is taken (a replayed
one changes nothing), before its deliveries are handed to the dispatcher.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from wahooks.chats import chat_of
from wahooks.clock import iso, now_ms
from wahooks.connections import ConnectionService
from wahooks.delivery.dispatcher import Dispatcher
from wahooks.engines.base import EngineEvent, Ingested
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
    ) -> list[list[DeliveryJob] | None]:
        """Each event's deliveries; None for an event skipped because its replay key was
        taken before."""
        ...


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

    async def accept(self, events: Sequence[EngineEvent]) -> Ingested:
        """Take events an engine emitted together: stored in one transaction, then dispatched.
        An event whose session has no live connection is dropped, never routed to some other
        connection; one whose replay key was taken before is skipped."""
        resolved: list[tuple[Connection, Mapping[str, Any], NewEvent]] = []
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
            raw = item.raw if item.raw is not None else dumps(event)
            new = NewEvent(
                connection.id, event_type, raw, chat_of(event), replay_key=item.replay_key
            )
            resolved.append((connection, event, new))
        if not resolved:
            return Ingested(0)
        per_event, claimed = await self._store_events([new for _, _, new in resolved], None)
        taken = [
            entry for entry, jobs in zip(resolved, per_event, strict=True) if jobs is not None
        ]
        try:
            # Only once the event is taken (a replayed status must change nothing), and before
            # its deliveries go out (a receiver that asks sees the status the event announced).
            taken = [
                (await self._connections.follow_engine_status(connection, event), event, new)
                if event.get("event") == "session.status" else (connection, event, new)
                for connection, event, new in taken
            ]
        finally:
            self._dispatch([job for jobs in per_event if jobs for job in jobs], claimed)
        for connection, event, new in taken:
            for listener in self._listeners:
                pending = listener(connection, event, new.body)
                if pending is not None:
                    await pending
        return Ingested(len(taken), repeated=len(resolved) - len(taken))

    async def send_test(self, webhook: Webhook) -> str:
        """Deliver the product page's test event to one webhook through the same pipeline."""
        body = dumps({
            "event": "test",
            "session": "test",
            "payload": {"message": TEST_MESSAGE, "timestamp": iso(now_ms())},
        })
        (jobs,), claimed = await self._store_events(
            [NewEvent(webhook.connection_id, "test", body)], webhook.id
        )
        self._dispatch(jobs or [], claimed)
        if not jobs:  # deleted between the ownership check and now
            raise NotFound("Webhook config not found")
        return jobs[0].delivery_id

    async def _store_events(
        self, events: list[NewEvent], only_webhook: str | None
    ) -> tuple[list[list[DeliveryJob] | None], bool]:
        """Each event's deliveries (None: skipped as repeated), and whether they were claimed
        for this process's dispatcher (all but the saturated webhooks'; if not, some may wait in
        the database, and the claim loop is poked)."""
        dispatcher = self._dispatcher
        claim = dispatcher.claims_at_ingest()
        # Busy, it claims only for webhooks with nothing waiting, and the claim loop must look.
        claimed_all = claim and dispatcher.wants_more()
        per_event = await self._store.ingest(
            events,
            claim_lease_ms=self._lease_ms if claim else None,
            only_webhook=only_webhook,
            defer_webhooks=dispatcher.deferred_webhooks(),
        )
        return per_event, claimed_all

    def _dispatch(self, jobs: list[DeliveryJob], claimed: bool) -> None:
        dispatcher = self._dispatcher
        submitted = [job for job in jobs if job.attempt]
        if submitted:
            dispatcher.submit(submitted)
        if not claimed and jobs:
            # Left in the database for the claim loop. (Deliveries deferred for a saturated
            # endpoint need no wake-up: the dispatcher looks again when that endpoint drains.)
            dispatcher.poke()
