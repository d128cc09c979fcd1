"""The dispatcher: claim due deliveries, send them with bounded concurrency, record the outcomes.

Two ways in. The hot path: ingest claims a new event's deliveries in its own transaction and hands
the jobs straight to `submit`, so a fresh event is on the wire without a database round trip or a
polling sleep. The durable path: retries, deliveries ingested while the dispatcher was saturated,
and leases recovered after a crash wait in the database with a `next_attempt_at`; the claim loop
takes them in batches when they fall due (it sleeps exactly until the next due time, with
`poll_interval` as a safety net).

With other processes on the database, each NOTIFY that another process left deliveries due wakes
every dispatcher, and most find nothing left to claim (another took it first). So a wake-up by
NOTIFY claims what is due now and nothing more: the next due time already looked up still holds,
since another process's NOTIFY only announces work due now, and the retries it schedules are its
own to take on time (should it die, `poll_interval` is when the others look). What this process
learns itself (`poke`: a retry it scheduled, an endpoint unsaturated, leases recovered) has the
next due time looked up again.

Concurrency is capped globally (shared fairly among accounts) and per endpoint (scheme, host, port;
shared fairly among its webhooks, and cut while it answers 429/503), and endpoints take turns, so a
slow or hung receiver holds at most its own share of connections and cannot delay the others. A
webhook's backlog is capped in memory too: once its queue is full it is "saturated", and its new
deliveries stay in the database, unclaimed, until the queue has drained to half; so a hung receiver
can neither fill the dispatcher's memory nor stop it claiming work for healthy ones (the queues
are in `endpoints.py`). Outcomes get their verdict from the retry policy, go past the observers
and are written back in batches: while one batch commits, the next accumulates (`outcomes.py`).
With other processes on the database, the leases of what this process holds are renewed
(`leases.py`).

Per-chat ordering needs nothing here: the storage only ever lets the first pending delivery of a
chat's line be due or claimed (storage/*/lines.py), so this process (or any) never holds two
deliveries of one line at once; the outcome that ends one makes the next due in the database, and
the outcome writer then pokes the claim loop.

Stopping: no more claims; attempts on the wire get a grace period; every finished outcome is
written; deliveries claimed but never sent go back to the database without counting an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Collection, Coroutine, Sequence
from typing import Any, Protocol

from wahooks.clock import now_ms
from wahooks.delivery.endpoints import EndpointQueues, Lane
from wahooks.delivery.leases import Heartbeats, LeaseStore, LeaseUpkeep
from wahooks.delivery.outcomes import OutcomeObserver, OutcomeStore, OutcomeWriter
from wahooks.delivery.retry import RetryPolicy
from wahooks.models import AttemptOutcome, DeliveryJob
from wahooks.storage.health import DEFAULT_DISABLE_RULE, DisableRule

log = logging.getLogger(__name__)

CLAIM_BATCH = 512


class DeliveryQueue(OutcomeStore, LeaseStore, Protocol):
    """The queue operations the dispatcher needs from a backend."""

    async def claim_due(
        self, limit: int, lease_ms: int, *, skip_webhooks: Collection[str] = ()
    ) -> list[DeliveryJob]: ...
    async def next_due_in_ms(self, *, skip_webhooks: Collection[str] = ()) -> int | None: ...
    def listen_due(self, callback: Callable[[], None]) -> None: ...
    async def release(self, delivery_ids: list[str]) -> None: ...


class Transport(Protocol):
    async def send(self, job: DeliveryJob) -> AttemptOutcome: ...


class Dispatcher:
    def __init__(
        self,
        store: DeliveryQueue,
        transport: Transport,
        policy: RetryPolicy,
        *,
        max_in_flight: int,
        max_in_flight_per_endpoint: int,
        lease_ms: int,
        poll_interval: float,
        heartbeats: Heartbeats | None = None,
        observers: Sequence[OutcomeObserver] = (),
        disable: DisableRule = DEFAULT_DISABLE_RULE,
    ) -> None:
        self.active = False
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{now_ms()}"
        self._store = store
        self._transport = transport
        self._lease_ms = lease_ms
        self._poll_interval = poll_interval
        self._high_water = max(4 * max_in_flight, 4 * CLAIM_BATCH)
        self._low_water = self._high_water // 2
        self._queues = EndpointQueues(
            max_in_flight=max_in_flight,
            max_in_flight_per_endpoint=max_in_flight_per_endpoint,
            queue_cap=max(4 * max_in_flight_per_endpoint, 64),
            on_unsaturated=self.poke,
        )
        self._outcomes = OutcomeWriter(
            store, policy, on_pending=self.poke, observers=observers, disable=disable,
            lease_next=lambda: self._lease_ms if self.wants_more() else None,
            on_leased=self._take_leased,
        )
        self._leased_while_stopping: list[DeliveryJob] = []
        self._leases = None if heartbeats is None else self._lease_upkeep(heartbeats)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._backlog_in_db = True  # unknown at start: look
        # The loop time by which to look again unwoken (the next due delivery, or the safety net),
        # as last looked up; None: look it up after the next claim.
        self._look_at: float | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._stopping = False

    def _lease_upkeep(self, heartbeats: Heartbeats) -> LeaseUpkeep:
        return LeaseUpkeep(
            self._store, heartbeats, worker_id=self.worker_id, lease_ms=self._lease_ms,
            held=self._queues.held_ids, on_recovered=self.poke,
        )

    # lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.active = True
        self._loop_task = asyncio.create_task(self._claim_loop(), name="wahooks-claim-loop")
        if self._leases is not None:  # other processes share the queue
            self._store.listen_due(self._notified)
            self._maintenance = asyncio.create_task(self._leases.run(), name="wahooks-leases")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming, give in-flight attempts `grace` seconds, record what finished, and hand
        claimed-but-unsent jobs back to the database without counting an attempt for them."""
        self._stopping = True
        self.active = False
        self._wake.set()
        if self._maintenance is not None:
            self._maintenance.cancel()
        for task in (self._loop_task, self._maintenance):
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        unsent = self._queues.take_waiting()
        await self._finish_attempts(grace)
        try:
            # Bounded: with the database gone, the leases run out instead and the attempts are
            # logged as interrupted when it is back.
            await asyncio.wait_for(self._outcomes.drain(), grace)
            unsent += self._leased_while_stopping
            if unsent:
                await asyncio.wait_for(
                    self._store.release([job.delivery_id for job in unsent]), grace
                )
        except Exception:
            log.warning(
                "stopped without recording every outcome",
                extra={"action": "delivery.stop", "outcomes": self._outcomes.unwritten},
            )
            await self._outcomes.abandon()

    async def _finish_attempts(self, grace: float) -> None:
        """Wait up to `grace` seconds for the attempts on the wire; cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # intake -------------------------------------------------------------------------------------

    def wants_more(self) -> bool:
        """Whether the dispatcher has room for more than it holds: if not (it is busy), ingest
        claims only for webhooks with nothing waiting (`deferred_webhooks`), and the outcome
        writer leaves the next delivery of an ordered line to the claim loop."""
        return self.active and not self._stopping and self._queues.queued_open < self._high_water

    def saturated_webhooks(self) -> frozenset[str]:
        """Webhooks whose endpoint has a full queue: their deliveries wait in the database."""
        return self._queues.saturated_webhooks()

    def claims_at_ingest(self) -> bool:
        """Whether ingest should claim new deliveries for this dispatcher at all (but those of
        `deferred_webhooks`)."""
        return self.active and not self._stopping

    def deferred_webhooks(self) -> frozenset[str]:
        """Webhooks whose new deliveries ingest leaves in the database for the claim loop: the
        saturated ones and, while the dispatcher is busy (`wants_more` is false), every webhook
        that already has deliveries waiting here. A webhook with none waiting is claimed even
        then: in the database its fresh event would wait behind the whole backlog (claims take
        the oldest due first), and one delivery per idle webhook is no threat to memory."""
        if self.wants_more():
            return self._queues.saturated_webhooks()
        return self._queues.waiting_webhooks()

    def submit(self, jobs: list[DeliveryJob]) -> None:
        overflow = self._queues.add(jobs)
        if overflow:
            # Claimed, but this endpoint's queue is full: back to the database, no attempt counted.
            self._spawn(self._store.release([job.delivery_id for job in overflow]))
        self._pump()

    def _take_leased(self, jobs: list[DeliveryJob]) -> None:
        """Ordered deliveries whose chat's turn came, leased for this dispatcher by the write
        that ended the turn before them: sent like ingest's, or handed back when stopping."""
        if self._stopping:
            self._leased_while_stopping += jobs
        else:
            self.submit(jobs)

    def poke(self) -> None:
        """Deliveries are waiting in the database: have the claim loop look now."""
        self._look_at = None
        self._notified()

    def _notified(self) -> None:
        """Another process left deliveries due now: claim them (see the module's docstring)."""
        self._backlog_in_db = True
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return self._queues.in_flight

    def concurrency_limit(self, url: str) -> float:
        """How many attempts the endpoint serving `url` may have on the wire now (it shrinks while
        the endpoint answers 429/503)."""
        return self._queues.limit(url)

    @property
    def queued(self) -> int:
        return self._queues.queued

    # sending ------------------------------------------------------------------------------------

    def _pump(self) -> None:
        self._queues.start_ready(self._start)

    def _start(self, lane: Lane, job: DeliveryJob) -> None:
        self._spawn(self._attempt(lane, job))

    async def _attempt(self, lane: Lane, job: DeliveryJob) -> None:
        outcome = None
        try:
            outcome = await self._transport.send(job)
            self._outcomes.record(job, outcome)
        finally:
            # The outcome also tunes the endpoint's concurrency (429/503 cut it, successes grow it).
            self._queues.finished(lane, job, outcome)
            self._pump()
            if self._backlog_in_db and self._room_to_claim():
                self._wake.set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # the durable path ---------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            try:
                timeout = await self._claim_once()
            except Exception:
                log.exception("claiming due deliveries failed", extra={"action": "delivery.claim"})
                timeout = self._poll_interval
            if timeout <= 0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()

    def _room_to_claim(self) -> bool:
        return self._queues.queued_open < self._low_water

    async def _claim_once(self) -> float:
        """Claim what is due while there is room; return how long to sleep before looking again."""
        if not self._room_to_claim():
            return self._poll_interval
        self._backlog_in_db = False
        skip = self.saturated_webhooks()
        jobs = await self._store.claim_due(CLAIM_BATCH, self._lease_ms, skip_webhooks=skip)
        if jobs:
            self.submit(jobs)
        if len(jobs) == CLAIM_BATCH:
            self._backlog_in_db = True
            return 0.0
        now = asyncio.get_running_loop().time()
        if self._look_at is None or self._look_at <= now:
            due_in_ms = await self._store.next_due_in_ms(skip_webhooks=skip)
            wait = self._poll_interval if due_in_ms is None else due_in_ms / 1000
            self._look_at = now + min(wait, self._poll_interval)
        return self._look_at - now
