"""Fakes for the dispatcher's two seams: a transport whose attempts the test answers by hand, and an
in-memory delivery queue that records what the dispatcher asked of it.

Seam tests only: the real queue is tested on SQLite and PostgreSQL (tests/integration), the real
sender against real receivers (tests/acceptance). Every wait here waits for an event, never for
time; the timeout is a guard against a hang, not a condition of any result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from wahooks.models import AttemptOutcome, DeliveryJob, DeliveryStatus, ErrorClass
from wahooks.storage.health import DEFAULT_DISABLE_RULE, DisableRule
from wahooks.storage.records import RecordedOutcome, WrittenOutcomes

HANG_GUARD_SECONDS = 10.0


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until `condition` holds; they only need turns, not time."""
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        while not condition():
            await asyncio.sleep(0)


def job(
    number: int, host: str = "a.example", *, attempt: int = 1, path: str = "hook",
    account: str = "acct-1",
) -> DeliveryJob:
    """Delivery `number` of the webhook at https://host/path (one webhook per URL here)."""
    name = host if path == "hook" else f"{host}/{path}"
    return DeliveryJob(
        delivery_id=f"{name}-{number}", webhook_id=f"wh-{name}", url=f"https://{host}/{path}",
        signing_secret="whsec_test", event_type="message", body=b"{}", attempt=attempt,
        attempts_before_cycle=0, account_id=account,
    )


def ok() -> AttemptOutcome:
    return AttemptOutcome(0, 1.0, 200, None)


def overloaded(status: int = 429, retry_after: float | None = 1.0) -> AttemptOutcome:
    return AttemptOutcome(0, 1.0, status, f"HTTP {status}", ErrorClass.HTTP_STATUS, retry_after)


def server_error() -> AttemptOutcome:
    return AttemptOutcome(0, 1.0, 500, "HTTP 500: boom", ErrorClass.HTTP_STATUS)


class FakeTransport:
    """Each `send` waits until the test answers it with `answer(delivery_id, outcome)`."""

    def __init__(self) -> None:
        self.sent: list[DeliveryJob] = []
        self._answers: dict[str, asyncio.Future[AttemptOutcome]] = {}

    async def send(self, job: DeliveryJob) -> AttemptOutcome:
        future: asyncio.Future[AttemptOutcome] = asyncio.get_running_loop().create_future()
        self._answers[job.delivery_id] = future
        self.sent.append(job)
        return await future

    def answer(self, delivery_id: str, outcome: AttemptOutcome) -> None:
        self._answers.pop(delivery_id).set_result(outcome)

    def on_the_wire(self) -> list[str]:
        return [id_ for id_, future in self._answers.items() if not future.done()]

    async def wait_sent(self, count: int) -> None:
        await until(lambda: len(self.sent) >= count)

    def sent_ids(self) -> list[str]:
        return [job.delivery_id for job in self.sent]


@dataclass
class FakeQueue:
    """The DeliveryQueue protocol in memory. `due` is what `claim_due` hands out."""

    due: list[DeliveryJob] = field(default_factory=list)
    written: list[RecordedOutcome] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    claims: list[frozenset[str]] = field(default_factory=list)  # skip_webhooks of each claim
    fail_writes: int = 0  # how many record_outcomes calls fail before they succeed
    next_due_lookups: int = 0
    listeners: list[Callable[[], None]] = field(default_factory=list)  # listen_due's callbacks

    async def claim_due(
        self, limit: int, lease_ms: int, *, skip_webhooks: Collection[str] = ()
    ) -> list[DeliveryJob]:
        self.claims.append(frozenset(skip_webhooks))
        taken = [j for j in self.due if j.webhook_id not in skip_webhooks][:limit]
        self.due = [j for j in self.due if j not in taken]
        return taken

    async def next_due_in_ms(self, *, skip_webhooks: Collection[str] = ()) -> int | None:
        self.next_due_lookups += 1
        return 0 if any(j.webhook_id not in skip_webhooks for j in self.due) else None

    async def extend_leases(self, delivery_ids: list[str], lease_ms: int) -> None:
        pass

    def listen_due(self, callback: Callable[[], None]) -> None:
        self.listeners.append(callback)

    def notify(self) -> None:
        """As a NOTIFY from another process that left deliveries due."""
        for callback in self.listeners:
            callback()

    async def release(self, delivery_ids: list[str]) -> None:
        self.released += delivery_ids

    async def record_outcomes(
        self, outcomes: list[RecordedOutcome], *, disable: DisableRule = DEFAULT_DISABLE_RULE,
        lease_next_ms: int | None = None,
    ) -> WrittenOutcomes:
        if self.fail_writes:
            self.fail_writes -= 1
            raise ConnectionError("database unavailable")
        self.written += outcomes
        return WrittenOutcomes([], [])

    async def recover_expired_leases(self, *, all_leases: bool = False) -> int:
        return 0

    def statuses(self) -> dict[str, DeliveryStatus]:
        return {o.delivery_id: o.status for o in self.written}
