"""Prometheus metrics: what this process did (counters, a histogram) and what the queue holds.

Two kinds of series, kept apart on purpose:
- What this process saw (events accepted, attempts, ingest-to-delivery latency) is counted in
  memory by this process: with several processes each one exposes its own series, and Prometheus
  sums them over the `instance` label. They restart from zero with the process, as counters may.
- What the queue holds (deliveries by status, leased, the oldest due wait) is read from the
  database at scrape time, so every process reports the same, true number whoever wrote the rows;
  aggregate those with max(), not sum().

Labels are bounded and carry no tenant data: event types outside the catalogue count as "other",
HTTP statuses are grouped by class, and nothing names a connection, webhook, URL or account.

Not supported: a worker-only process (`--role worker`) has no HTTP server, so its attempt counters
are not exposed; see docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from wahooks.delivery.retry import RetryDecision, Verdict
from wahooks.ids import uuid7_time_ms
from wahooks.models import AttemptOutcome, Connection, DeliveryJob, ErrorClass
from wahooks.schemas import EVENT_NAMES
from wahooks.storage.records import QueueDepth

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# From a local receiver's milliseconds to the retry schedule's minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   300.0, 900.0, 3600.0)

_KNOWN_EVENTS = frozenset(EVENT_NAMES) - {"*"}


class QueueDepthSource(Protocol):
    async def queue_depth(self) -> QueueDepth: ...


class InFlight(Protocol):
    @property
    def in_flight(self) -> int: ...

    @property
    def queued(self) -> int: ...


def event_label(event_type: str) -> str:
    return event_type if event_type in _KNOWN_EVENTS else "other"


def status_class(status_code: int | None) -> str:
    """"2xx".."5xx", "none" when no answer came (timeout, refused, ...), "other" for odd codes."""
    if status_code is None:
        return "none"
    return f"{status_code // 100}xx" if 100 <= status_code < 600 else "other"


class Metrics:
    """This process's metrics; an OutcomeObserver for the dispatcher and a listener for ingest."""

    def __init__(self, queue: QueueDepthSource, *, info: Mapping[str, str]) -> None:
        self._queue = queue
        self.registry = CollectorRegistry(auto_describe=True)
        Info("wahooks", "This process: version, role, engine, storage backend.",
             registry=self.registry).info(dict(info))
        # process_* (CPU, memory, file descriptors, start time) and python_info.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._events = Counter(
            "wahooks_events_accepted", "Engine events accepted (stored), by event type.",
            ["type"], registry=self.registry,
        )
        self._attempts = Counter(
            "wahooks_delivery_attempts",
            "Delivery attempts made by this process, by result, HTTP status class and error class.",
            ["result", "status_class", "error_class"], registry=self.registry,
        )
        self._latency = Histogram(
            "wahooks_delivery_latency_seconds",
            "From an event's ingest to its delivery's successful answer (first cycle only).",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self._attempt_children: dict[tuple[str, int | None, ErrorClass | None], Counter] = {}
        self._event_children: dict[str, Counter] = {}

    def watch_dispatcher(self, dispatcher: InFlight) -> None:
        """Expose a dispatcher's load (built after this object: it takes it as an observer)."""
        Gauge("wahooks_dispatcher_in_flight", "Attempts this process's dispatcher is making now.",
              registry=self.registry).set_function(lambda: dispatcher.in_flight)
        Gauge("wahooks_dispatcher_queued",
              "Deliveries this process's dispatcher holds, waiting for a free slot.",
              registry=self.registry).set_function(lambda: dispatcher.queued)

    def event_accepted(self, connection: Connection, event: Mapping[str, Any], body: bytes) -> None:
        """An ingest listener (only the type is looked at)."""
        label = event_label(str(event.get("event")))
        child = self._event_children.get(label)
        if child is None:  # a labelled child is looked up once per label, not per event
            child = self._event_children[label] = self._events.labels(label)
        child.inc()

    def observe(self, job: DeliveryJob, outcome: AttemptOutcome, decision: RetryDecision) -> None:
        # Per attempt, on the dispatcher's loop: an if chain (an Enum's hash is a Python call) and
        # the labelled child looked up once per distinct outcome, not validated again each time.
        verdict = decision.verdict
        if verdict is Verdict.DELIVERED:
            result = "delivered"
        elif verdict is Verdict.RETRY:
            result = "retry"
        else:
            result = "dead_letter"
        key = (result, outcome.status_code, outcome.error_class)
        child = self._attempt_children.get(key)
        if child is None:
            error = "none" if outcome.error_class is None else outcome.error_class.value
            child = self._attempts.labels(result, status_class(outcome.status_code), error)
            self._attempt_children[key] = child
        child.inc()
        if verdict is Verdict.DELIVERED and job.attempts_before_cycle == 0:
            # The delivery's id is a UUIDv7 minted at ingest: its time is the ingest time.
            answered_ms = outcome.started_at + outcome.duration_ms
            self._latency.observe(max(answered_ms - uuid7_time_ms(job.delivery_id), 0) / 1000)

    async def exposition(self) -> bytes:
        """The text format: this process's series, then the queue as the database has it now."""
        queue = CollectorRegistry(auto_describe=False)
        queue.register(_QueueCollector(await self._queue.queue_depth()))
        return generate_latest(self.registry) + generate_latest(queue)


class _QueueCollector(Collector):
    def __init__(self, depth: QueueDepth) -> None:
        self._depth = depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_status = GaugeMetricFamily(
            "wahooks_deliveries", "Deliveries in the database, by status (all processes).",
            labels=["status"],
        )
        for status, count in self._depth.by_status.items():
            by_status.add_metric([status.value], count)
        yield by_status
        yield GaugeMetricFamily(
            "wahooks_deliveries_leased",
            "Pending deliveries a dispatcher holds right now (all processes).",
            value=self._depth.leased,
        )
        yield GaugeMetricFamily(
            "wahooks_oldest_due_delivery_age_seconds",
            "How long the oldest due delivery nobody holds has waited (0 when none waits).",
            value=self._depth.oldest_due_age_ms / 1000,
        )
