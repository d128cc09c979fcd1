"""Outcome writing: each attempt's outcome gets its verdict, goes past the observers, and is written
back to the queue in batches.

Batches: while one batch commits, the next accumulates, so a burst of answers costs a few
transactions rather than one each. A batch that fails to commit is kept and written again: the
leases stay held meanwhile, so nothing is attempted twice. When a batch holds a retry, the writer
says so (`on_pending`): the claim loop then looks at its due time instead of sleeping past it; so
does a batch with an ordered delivery, whose end made the next one of its chat due.

Endpoint health is kept by the store with each batch (one update per webhook per batch, in the
batch's transaction, so it is durable and shared by every worker process); the store applies the
disable rule and says which webhooks it disabled, which are logged here.

Observers are the seam for metrics and the like: they see every outcome with its verdict,
before it is written, in the order the answers came. An observer that raises is logged and skipped:
a metric must never stop a delivery from being recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from wahooks.delivery.retry import RetryDecision, RetryPolicy, Verdict
from wahooks.models import AttemptOutcome, DeliveryJob, DeliveryStatus
from wahooks.storage.health import DEFAULT_DISABLE_RULE, DisableRule
from wahooks.storage.records import RecordedOutcome, WrittenOutcomes

log = logging.getLogger(__name__)

RETRY_WRITE_SECONDS = 1.0  # between tries to write a batch the database refused


class OutcomeStore(Protocol):
    async def record_outcomes(
        self, outcomes: list[RecordedOutcome], *, disable: DisableRule,
        lease_next_ms: int | None = None,
    ) -> WrittenOutcomes:
        """Write the batch and each webhook's health: the webhooks it disabled, and (with
        `lease_next_ms`) the ordered deliveries whose turn it began, leased for the caller."""
        ...


class OutcomeObserver(Protocol):
    def observe(self, job: DeliveryJob, outcome: AttemptOutcome, decision: RetryDecision) -> None:
        """Called once for every outcome, with the policy's verdict; must not block."""


class OutcomeWriter:
    def __init__(
        self,
        store: OutcomeStore,
        policy: RetryPolicy,
        *,
        on_pending: Callable[[], None],
        observers: Sequence[OutcomeObserver] = (),
        retry_write_after: float = RETRY_WRITE_SECONDS,
        disable: DisableRule = DEFAULT_DISABLE_RULE,
        lease_next: Callable[[], int | None] = lambda: None,
        on_leased: Callable[[list[DeliveryJob]], None] | None = None,
    ) -> None:
        self._store = store
        # An ordered chat's next delivery is leased in the write that ends the turn before it and
        # handed straight back (a claim less per message of a chat), when the dispatcher has room.
        self._lease_next = lease_next
        self._on_leased = on_leased
        self._disable = disable
        self._retry_write_after = retry_write_after
        self._policy = policy
        self._on_pending = on_pending
        self._observers = tuple(observers)
        self._unwritten: list[RecordedOutcome] = []
        self._flusher: asyncio.Task[None] | None = None

    @property
    def unwritten(self) -> int:
        """Outcomes recorded but not yet committed."""
        return len(self._unwritten)

    def record(self, job: DeliveryJob, outcome: AttemptOutcome) -> None:
        decision = self._policy.decide(job.attempt - job.attempts_before_cycle, outcome)
        if self._observers:
            self._tell_observers(job, outcome, decision)
        # An if chain, not a dict keyed by Verdict: an Enum's hash is a Python call, per attempt.
        retry_in_ms = None
        if decision.verdict is Verdict.DELIVERED:
            status = DeliveryStatus.DELIVERED
        elif decision.verdict is Verdict.RETRY:
            status = DeliveryStatus.PENDING
            retry_in_ms = int(decision.delay * 1000)
        else:
            status = DeliveryStatus.FAILED
            log.warning(
                "delivery dead-lettered",
                extra={"action": "delivery.dead_letter", "delivery_id": job.delivery_id,
                       "webhook_id": job.webhook_id, "error": outcome.error},
            )
        self._unwritten.append(
            RecordedOutcome(
                job.delivery_id, job.attempt, outcome, status, retry_in_ms, job.trigger,
                job.webhook_id, job.order_key,
            )
        )
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="wahooks-outcomes")

    async def drain(self) -> None:
        """Return once every outcome recorded so far is committed (retrying while it is not)."""
        while self._unwritten or self._flusher is not None:
            if self._flusher is None:
                self._flusher = asyncio.create_task(self._flush(), name="wahooks-outcomes")
            # Shielded: a caller that gives up waiting must not cancel a batch mid-commit.
            await asyncio.shield(self._flusher)

    async def abandon(self) -> None:
        """Stop writing (the database stayed away past shutdown's grace): the leases of what is
        left run out, and those attempts are logged as interrupted later."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher

    def _tell_observers(
        self, job: DeliveryJob, outcome: AttemptOutcome, decision: RetryDecision
    ) -> None:
        for observer in self._observers:
            try:
                observer.observe(job, outcome, decision)
            except Exception:
                log.exception("outcome observer failed", extra={"action": "delivery.observe"})

    async def _flush(self) -> None:
        try:
            while self._unwritten:
                batch, self._unwritten = self._unwritten, []
                if not await self._write(batch):
                    self._unwritten[:0] = batch
                    await asyncio.sleep(self._retry_write_after)
        finally:
            self._flusher = None

    async def _write(self, batch: list[RecordedOutcome]) -> bool:
        try:
            written = await self._store.record_outcomes(
                batch, disable=self._disable,
                lease_next_ms=None if self._on_leased is None else self._lease_next(),
            )
        except Exception:
            # Kept for the next try: the leases stay held, so nothing is attempted twice meanwhile.
            log.exception("recording outcomes failed", extra={"action": "delivery.record"})
            return False
        if written.next_jobs and self._on_leased is not None:
            self._on_leased(written.next_jobs)
        for change in written.changes:
            log.warning(
                "webhook disabled; its new events are held until it is enabled again",
                extra={"action": "webhook.disabled", "webhook_id": change.webhook_id,
                       "reason": str(change.disabled_reason)},
            )
        # A retry is due later, or an ordered delivery's end let the next one of its chat go.
        if any(o.status is DeliveryStatus.PENDING or o.order_key is not None for o in batch):
            self._on_pending()
        return True
