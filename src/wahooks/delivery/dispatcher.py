"""The dispatcher: claim due deliveries, send them with bounded concurrency, record the outcomes.

Two ways in. The hot path: ingest claims a new event's deliveries in its own transaction and hands
the jobs straight to `submit`, so a fresh event is on the wire without a database round trip or a
polling sleep. The durable path: retries, deliveries ingested while the dispatcher was saturated,
and leases recovered after a crash wait in the database with a `next_attempt_at`; the claim loop
takes them in batches when they fall due (it sleeps exactly until the next due time, with
`poll_interval` as a safety net).

Concurrency is capped globally and per endpoint (scheme, host, port), and endpoints take turns, so a
slow or hung receiver holds at most its own share of connections and cannot delay the others. Its
backlog is capped in memory too: once an endpoint has a full queue it is "saturated", and its new
deliveries stay in the database, unclaimed, until the queue has drained to half; so a hung endpoint
can neither fill the dispatcher's memory nor stop it claiming work for healthy ones.
Outcomes are written back in batches: while one batch commits, the next accumulates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from wahooks.clock import now_ms
from wahooks.delivery.retry import RetryPolicy, Verdict
from wahooks.models import AttemptOutcome, DeliveryJob, DeliveryStatus
from wahooks.storage.records import RecordedOutcome

log = logging.getLogger(__name__)

CLAIM_BATCH = 512
HEARTBEAT_SECONDS = 10.0


class DeliveryQueue(Protocol):
    """The queue operations the dispatcher needs from a backend."""

    async def claim_due(
        self, limit: int, lease_ms: int, *, skip_webhooks: Collection[str] = ()
    ) -> list[DeliveryJob]: ...
    async def next_due_in_ms(self, *, skip_webhooks: Collection[str] = ()) -> int | None: ...
    async def extend_leases(self, delivery_ids: list[str], lease_ms: int) -> None: ...
    def listen_due(self, callback: Callable[[], None]) -> None: ...
    async def release(self, delivery_ids: list[str]) -> None: ...
    async def record_outcomes(self, outcomes: list[RecordedOutcome]) -> None: ...
    async def recover_expired_leases(self, *, all_leases: bool = False) -> int: ...


class Heartbeats(Protocol):
    async def heartbeat(self, worker_id: str) -> None: ...


class Transport(Protocol):
    async def send(self, job: DeliveryJob) -> AttemptOutcome: ...


@dataclass(eq=False)
class _Endpoint:
    key: str
    waiting: deque[DeliveryJob] = field(default_factory=deque)
    in_flight: int = 0
    scheduled: bool = False
    saturated: bool = False
    webhook_ids: set[str] = field(default_factory=set)


def endpoint_key(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


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
    ) -> None:
        self.active = False
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{now_ms()}"
        self._store = store
        self._heartbeats = heartbeats
        self._transport = transport
        self._policy = policy
        self._max_in_flight = max_in_flight
        self._max_per_endpoint = max_in_flight_per_endpoint
        self._lease_ms = lease_ms
        self._poll_interval = poll_interval
        self._high_water = max(4 * max_in_flight, 4 * CLAIM_BATCH)
        self._low_water = self._high_water // 2
        self._endpoint_queue_cap = max(4 * max_in_flight_per_endpoint, 64)

        self._endpoints: dict[str, _Endpoint] = {}
        self._ready: deque[_Endpoint] = deque()
        self._queued = 0  # jobs waiting in memory, all endpoints
        self._queued_saturated = 0  # of which at saturated endpoints
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._outcomes: list[RecordedOutcome] = []
        self._flusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._backlog_in_db = True  # unknown at start: look
        self._loop_task: asyncio.Task[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._in_flight_ids: set[str] = set()
        self._stopping = False
        self.delivered = 0
        self.failed_attempts = 0

    # lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.active = True
        self._loop_task = asyncio.create_task(self._claim_loop(), name="wahooks-claim-loop")
        if self._heartbeats is not None:  # other processes share the queue
            self._store.listen_due(self.poke)
            self._maintenance = asyncio.create_task(self._maintain(), name="wahooks-leases")

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
        unsent = [job for endpoint in self._endpoints.values() for job in endpoint.waiting]
        for endpoint in self._endpoints.values():
            endpoint.waiting.clear()
        self._queued = self._queued_saturated = 0
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            # Bounded: with the database gone, the leases run out instead and the attempts are
            # logged as interrupted when it is back.
            await asyncio.wait_for(self._drain_outcomes(), grace)
            if unsent:
                await asyncio.wait_for(
                    self._store.release([job.delivery_id for job in unsent]), grace
                )
        except Exception:
            log.warning(
                "stopped without recording every outcome",
                extra={"action": "delivery.stop", "outcomes": len(self._outcomes)},
            )

    # intake -------------------------------------------------------------------------------------

    def wants_more(self) -> bool:
        """Whether ingest should claim new deliveries for the hot path, or leave them in the
        database for the claim loop (the dispatcher is busy)."""
        return (
            self.active
            and not self._stopping
            and self._queued - self._queued_saturated < self._high_water
        )

    def saturated_webhooks(self) -> frozenset[str]:
        """Webhooks whose endpoint has a full queue: their deliveries wait in the database."""
        return frozenset(
            webhook_id
            for endpoint in self._endpoints.values() if endpoint.saturated
            for webhook_id in endpoint.webhook_ids
        )

    def submit(self, jobs: list[DeliveryJob]) -> None:
        overflow: list[DeliveryJob] = []
        for job in jobs:
            key = endpoint_key(job.url)
            endpoint = self._endpoints.get(key)
            if endpoint is None:
                endpoint = self._endpoints[key] = _Endpoint(key)
            endpoint.webhook_ids.add(job.webhook_id)
            if len(endpoint.waiting) >= self._endpoint_queue_cap:
                overflow.append(job)
                continue
            endpoint.waiting.append(job)
            self._queued += 1
            if endpoint.saturated:
                self._queued_saturated += 1
            elif len(endpoint.waiting) >= self._endpoint_queue_cap:
                endpoint.saturated = True
                self._queued_saturated += len(endpoint.waiting)
            self._schedule(endpoint)
        if overflow:
            # Claimed, but this endpoint's queue is full: back to the database, no attempt counted.
            self._spawn(self._store.release([job.delivery_id for job in overflow]))
        self._pump()

    def poke(self) -> None:
        """Deliveries are waiting in the database: have the claim loop look now."""
        self._backlog_in_db = True
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queued(self) -> int:
        return self._queued

    # sending ------------------------------------------------------------------------------------

    def _schedule(self, endpoint: _Endpoint) -> None:
        if not endpoint.scheduled and endpoint.waiting and endpoint.in_flight < self._max_per_endpoint:
            endpoint.scheduled = True
            self._ready.append(endpoint)

    def _pump(self) -> None:
        while self._in_flight < self._max_in_flight and self._ready:
            endpoint = self._ready.popleft()
            if not endpoint.waiting or endpoint.in_flight >= self._max_per_endpoint:
                endpoint.scheduled = False
                continue
            job = endpoint.waiting.popleft()
            self._queued -= 1
            if endpoint.saturated:
                self._queued_saturated -= 1
                if len(endpoint.waiting) < self._endpoint_queue_cap // 2:
                    # Drained to half: its waiting deliveries may be claimed again.
                    endpoint.saturated = False
                    self._queued_saturated -= len(endpoint.waiting)
                    self.poke()
            endpoint.in_flight += 1
            self._in_flight += 1
            self._ready.append(endpoint)  # endpoints take turns
            self._in_flight_ids.add(job.delivery_id)
            self._spawn(self._attempt(endpoint, job))

    async def _attempt(self, endpoint: _Endpoint, job: DeliveryJob) -> None:
        try:
            outcome = await self._transport.send(job)
            self._record(job, outcome)
        finally:
            self._in_flight_ids.discard(job.delivery_id)
            endpoint.in_flight -= 1
            self._in_flight -= 1
            self._schedule(endpoint)
            self._pump()
            if self._backlog_in_db and self._room_to_claim():
                self._wake.set()

    def _record(self, job: DeliveryJob, outcome: AttemptOutcome) -> None:
        decision = self._policy.decide(job.attempt - job.attempts_before_cycle, outcome.succeeded)
        retry_in_ms = None
        if decision.verdict is Verdict.DELIVERED:
            status = DeliveryStatus.DELIVERED
            self.delivered += 1
        elif decision.verdict is Verdict.RETRY:
            status = DeliveryStatus.PENDING
            retry_in_ms = int(decision.delay * 1000)
            self.failed_attempts += 1
        else:
            status = DeliveryStatus.FAILED
            self.failed_attempts += 1
            log.warning(
                "delivery dead-lettered",
                extra={"action": "delivery.dead_letter", "delivery_id": job.delivery_id,
                       "webhook_id": job.webhook_id, "error": outcome.error},
            )
        self._outcomes.append(
            RecordedOutcome(job.delivery_id, job.attempt, outcome, status, retry_in_ms)
        )
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            await self._drain_outcomes()
        finally:
            self._flusher = None

    async def _drain_outcomes(self) -> None:
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            try:
                await self._store.record_outcomes(batch)
            except Exception:
                # Keep them: the leases stay held, so nothing is attempted twice meanwhile.
                log.exception("recording outcomes failed", extra={"action": "delivery.record"})
                self._outcomes[:0] = batch
                await asyncio.sleep(1.0)
                continue
            if any(o.status is DeliveryStatus.PENDING for o in batch):
                self.poke()

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

    async def _maintain(self) -> None:
        """With other processes on the database: keep renewing the leases of what this process
        holds, and take back deliveries whose holder died (their lease ran out)."""
        while True:
            try:
                assert self._heartbeats is not None
                await self._heartbeats.heartbeat(self.worker_id)
                held = [job.delivery_id for e in self._endpoints.values() for job in e.waiting]
                held += self._in_flight_ids
                if held:
                    await self._store.extend_leases(held, self._lease_ms)
                if await self._store.recover_expired_leases():
                    self.poke()
            except Exception:
                log.exception("lease upkeep failed", extra={"action": "delivery.leases"})
            await asyncio.sleep(min(self._lease_ms / 3000, HEARTBEAT_SECONDS))

    def _room_to_claim(self) -> bool:
        return self._queued - self._queued_saturated < self._low_water

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        due_in_ms = await self._store.next_due_in_ms(skip_webhooks=skip)
        if due_in_ms is None:
            return self._poll_interval
        return min(due_in_ms / 1000, self._poll_interval)
