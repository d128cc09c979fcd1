"""Endpoint queues: which claimed delivery goes on the wire next. In memory, no I/O.

Deliveries wait per endpoint (scheme, host, port). Concurrency is capped globally and per
endpoint, and endpoints with work take turns (round robin), so a slow or hung receiver holds at
most its own share of connections and cannot delay the others.

Each endpoint's backlog is capped too: an endpoint whose queue is full is "saturated"; a delivery
claimed for it past the cap is handed back (`add` returns it) and the claim loop skips its
webhooks, so its deliveries stay in the database. Once its queue has drained to half it is open
again (`on_unsaturated`), and the claim loop may take them. So a hung endpoint can neither fill
memory nor stop the claiming of work for healthy ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from wahooks.models import DeliveryJob


@dataclass(eq=False)
class Endpoint:
    key: str
    waiting: deque[DeliveryJob] = field(default_factory=deque)
    in_flight: int = 0
    scheduled: bool = False  # in the ready ring
    saturated: bool = False
    webhook_ids: set[str] = field(default_factory=set)


def endpoint_key(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class EndpointQueues:
    def __init__(
        self,
        *,
        max_in_flight: int,
        max_in_flight_per_endpoint: int,
        queue_cap: int,
        on_unsaturated: Callable[[], None],
    ) -> None:
        self._max_in_flight = max_in_flight
        self._max_per_endpoint = max_in_flight_per_endpoint
        self._queue_cap = queue_cap
        self._on_unsaturated = on_unsaturated
        self._endpoints: dict[str, Endpoint] = {}
        self._ready: deque[Endpoint] = deque()  # endpoints that may start an attempt, in turn
        self._queued = 0  # jobs waiting, all endpoints
        self._queued_saturated = 0  # of which at saturated endpoints
        self._in_flight = 0
        self._in_flight_ids: set[str] = set()

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def queued_open(self) -> int:
        """Jobs waiting at endpoints that are not saturated: what the claim loop weighs."""
        return self._queued - self._queued_saturated

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def add(self, jobs: list[DeliveryJob]) -> list[DeliveryJob]:
        """Queue claimed jobs; return those past their endpoint's cap (to hand back, unsent)."""
        overflow: list[DeliveryJob] = []
        for job in jobs:
            endpoint = self._endpoint(endpoint_key(job.url))
            endpoint.webhook_ids.add(job.webhook_id)
            if len(endpoint.waiting) >= self._queue_cap:
                overflow.append(job)
                continue
            endpoint.waiting.append(job)
            self._queued += 1
            if endpoint.saturated:
                self._queued_saturated += 1
            elif len(endpoint.waiting) >= self._queue_cap:
                endpoint.saturated = True
                self._queued_saturated += len(endpoint.waiting)
            self._schedule(endpoint)
        return overflow

    def start_ready(self, start: Callable[[Endpoint, DeliveryJob], None]) -> None:
        """Hand `start` the jobs to start now, endpoints taking turns; each counts as in flight
        until `finished` is called for it. (A callback, not a generator: this runs after every
        attempt, and a generator object per call is measurable there.)"""
        while self._in_flight < self._max_in_flight and self._ready:
            endpoint = self._ready.popleft()
            if not endpoint.waiting or endpoint.in_flight >= self._max_per_endpoint:
                endpoint.scheduled = False
                continue
            job = endpoint.waiting.popleft()
            self._queued -= 1
            if endpoint.saturated:
                self._leave_saturated_queue(endpoint)
            endpoint.in_flight += 1
            self._in_flight += 1
            self._ready.append(endpoint)  # endpoints take turns
            self._in_flight_ids.add(job.delivery_id)
            start(endpoint, job)

    def finished(self, endpoint: Endpoint, job: DeliveryJob) -> None:
        self._in_flight_ids.discard(job.delivery_id)
        endpoint.in_flight -= 1
        self._in_flight -= 1
        self._schedule(endpoint)

    def take_waiting(self) -> list[DeliveryJob]:
        """Empty every queue (shutdown): the jobs claimed but not started."""
        unsent = [job for endpoint in self._endpoints.values() for job in endpoint.waiting]
        for endpoint in self._endpoints.values():
            endpoint.waiting.clear()
        self._queued = self._queued_saturated = 0
        return unsent

    def held_ids(self) -> list[str]:
        """Deliveries this process holds a lease for: waiting here or on the wire."""
        held = [job.delivery_id for e in self._endpoints.values() for job in e.waiting]
        held += self._in_flight_ids
        return held

    def saturated_webhooks(self) -> frozenset[str]:
        return frozenset(
            webhook_id
            for endpoint in self._endpoints.values() if endpoint.saturated
            for webhook_id in endpoint.webhook_ids
        )

    def _endpoint(self, key: str) -> Endpoint:
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = Endpoint(key)
        return endpoint

    def _schedule(self, endpoint: Endpoint) -> None:
        if not endpoint.scheduled and endpoint.waiting and endpoint.in_flight < self._max_per_endpoint:
            endpoint.scheduled = True
            self._ready.append(endpoint)

    def _leave_saturated_queue(self, endpoint: Endpoint) -> None:
        self._queued_saturated -= 1
        if len(endpoint.waiting) < self._queue_cap // 2:
            # Drained to half: its waiting deliveries may be claimed again.
            endpoint.saturated = False
            self._queued_saturated -= len(endpoint.waiting)
            self._on_unsaturated()
