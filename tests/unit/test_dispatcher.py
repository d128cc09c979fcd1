"""The dispatcher at its seams: a transport answered by hand and an in-memory queue.

What is proved here is scheduling (endpoints take turns, per-endpoint caps, saturation and spill
to the database, the concurrency cut on 429/503 and its regrowth, fairness among the webhooks of
one origin and among accounts under the global cap), shutdown (grace, release of unsent jobs,
outcomes written) and that observers see every outcome. Each step waits for the event it needs
(a send, a write), never for time.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from support.delivery_fakes import (
    FakeQueue,
    FakeTransport,
    job,
    ok,
    overloaded,
    server_error,
    until,
)
from wahooks.config import DEFAULT_RETRY_SCHEDULE
from wahooks.delivery.dispatcher import Dispatcher
from wahooks.delivery.outcomes import OutcomeObserver, OutcomeWriter
from wahooks.delivery.retry import RetryDecision, RetryPolicy, Verdict
from wahooks.models import AttemptOutcome, DeliveryJob, DeliveryStatus

POLICY = RetryPolicy(DEFAULT_RETRY_SCHEDULE)
NEVER = 3600.0  # poll interval: the claim loop only looks when woken


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def dispatcher(
    queue: FakeQueue, transport: FakeTransport, *, max_in_flight: int = 100,
    per_endpoint: int = 100, observers: Sequence[OutcomeObserver] = (),
) -> Dispatcher:
    return Dispatcher(
        queue, transport, POLICY, max_in_flight=max_in_flight,
        max_in_flight_per_endpoint=per_endpoint, lease_ms=60_000, poll_interval=NEVER,
        observers=observers,
    )


def test_endpoints_take_turns() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = dispatcher(queue, transport, max_in_flight=1)
        d.submit([job(1), job(2), job(3), job(1, "b.example")])
        for sent in range(1, 5):
            await transport.wait_sent(sent)
            transport.answer(transport.sent[-1].delivery_id, ok())
        assert transport.sent_ids() == ["a.example-1", "b.example-1", "a.example-2", "a.example-3"]
        await d.stop()
        assert len(queue.written) == 4

    run(scenario)


def test_a_hung_endpoint_does_not_delay_another() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = dispatcher(queue, transport, max_in_flight=4, per_endpoint=2)
        d.submit([job(n) for n in range(1, 11)] + [job(n, "b.example") for n in range(1, 4)])
        await transport.wait_sent(4)
        assert sorted(transport.on_the_wire()) == [
            "a.example-1", "a.example-2", "b.example-1", "b.example-2"
        ]
        transport.answer("b.example-1", ok())
        transport.answer("b.example-2", ok())
        await transport.wait_sent(5)
        assert transport.sent[-1].delivery_id == "b.example-3"
        transport.answer("b.example-3", ok())
        await until(lambda: len(queue.written) == 3)
        # a.example still holds its two connections and nothing more; b.example is all delivered.
        assert sorted(transport.on_the_wire()) == ["a.example-1", "a.example-2"]
        assert (d.in_flight, d.queued) == (2, 8)
        assert set(queue.statuses()) == {"b.example-1", "b.example-2", "b.example-3"}
        await d.stop(grace=0)

    run(scenario)


def test_the_per_endpoint_cap_holds_as_attempts_finish() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = dispatcher(queue, transport, per_endpoint=3)
        d.submit([job(n) for n in range(1, 11)])
        assert (d.in_flight, d.queued) == (3, 7)
        await transport.wait_sent(3)
        transport.answer("a.example-1", server_error())
        await transport.wait_sent(4)
        assert (d.in_flight, d.queued) == (3, 6)
        assert sorted(transport.on_the_wire()) == ["a.example-2", "a.example-3", "a.example-4"]
        await d.stop(grace=0)

    run(scenario)


def test_a_saturated_endpoint_spills_to_the_database_until_it_drains_to_half() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        queue.due = [job(71), job(1, "b.example")]
        d = dispatcher(queue, transport, per_endpoint=1)  # queue cap: 64 jobs per endpoint
        d.submit([job(n) for n in range(1, 71)])
        # 64 fit the queue (one of them goes on the wire), 6 go back: released, never attempted.
        assert (d.in_flight, d.queued) == (1, 63)
        assert d.saturated_webhooks() == {"wh-a.example"}
        assert d.wants_more() is False  # not started yet
        await until(lambda: len(queue.released) == 6)
        assert queue.released == [f"a.example-{n}" for n in range(65, 71)]

        await d.start()
        assert d.wants_more()  # a saturated endpoint's queue does not hold up other webhooks
        await until(lambda: "b.example-1" in transport.sent_ids())
        assert queue.claims[0] == {"wh-a.example"}
        assert queue.due == [job(71)]  # left in the database while a.example is saturated

        transport.answer("b.example-1", ok())
        answered = 0
        while d.saturated_webhooks():
            current = next(i for i in transport.on_the_wire() if i.startswith("a.example"))
            sent = len(transport.sent)
            transport.answer(current, ok())
            answered += 1
            await transport.wait_sent(sent + 1)  # it finished and the next one started
        assert answered == 32  # 63 waiting, and 63 - 32 is under half the cap of 64
        await until(lambda: not queue.due)  # open again: what waited in the database is claimed
        assert frozenset() in queue.claims
        await until(lambda: len(queue.written) == answered + 1)
        await d.stop(grace=0)
        attempted = set(transport.sent_ids())
        assert not attempted & {f"a.example-{n}" for n in range(65, 71)}
        assert not {o.delivery_id for o in queue.written} - attempted

    run(scenario)


def test_stop_waits_for_attempts_writes_outcomes_and_releases_unsent_jobs() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = dispatcher(queue, transport, per_endpoint=1)
        await d.start()
        d.submit([job(1), job(2), job(3), job(1, "b.example")])
        await transport.wait_sent(2)
        transport.answer("b.example-1", ok())
        stopping = asyncio.create_task(d.stop(grace=60))
        await until(lambda: d.queued == 0)  # stop has taken the unsent jobs back
        assert not stopping.done()  # a.example-1 is still on the wire, within the grace
        transport.answer("a.example-1", server_error())
        await stopping
        assert sorted(queue.released) == ["a.example-2", "a.example-3"]
        assert queue.statuses() == {
            "b.example-1": DeliveryStatus.DELIVERED, "a.example-1": DeliveryStatus.PENDING,
        }
        assert transport.sent_ids() == ["a.example-1", "b.example-1"]
        assert not d.active and not d.wants_more()

    run(scenario)


def test_stop_abandons_attempts_past_the_grace() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = dispatcher(queue, transport)
        d.submit([job(1)])
        await transport.wait_sent(1)
        await d.stop(grace=0)
        # Neither written nor released: its lease runs out and it is logged as interrupted.
        assert (queue.written, queue.released) == ([], [])
        assert d.in_flight == 0

    run(scenario)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int | None, RetryDecision]] = []

    def observe(self, job: DeliveryJob, outcome: AttemptOutcome, decision: RetryDecision) -> None:
        self.seen.append((job.delivery_id, outcome.status_code, decision))


class Broken:
    def observe(self, job: DeliveryJob, outcome: AttemptOutcome, decision: RetryDecision) -> None:
        raise RuntimeError("observer bug")


def test_observers_see_every_outcome_with_its_verdict() -> None:
    async def scenario() -> None:
        queue, transport, recorder = FakeQueue(), FakeTransport(), Recorder()
        d = dispatcher(queue, transport, observers=[Broken(), recorder])
        d.submit([job(1), job(1, "b.example"), job(1, "c.example", attempt=6)])
        await transport.wait_sent(3)
        transport.answer("a.example-1", ok())
        transport.answer("b.example-1", server_error())
        transport.answer("c.example-1", server_error())
        await until(lambda: len(queue.written) == 3)
        assert sorted(recorder.seen, key=lambda s: s[0]) == [
            ("a.example-1", 200, RetryDecision(Verdict.DELIVERED)),
            ("b.example-1", 500, RetryDecision(Verdict.RETRY, 5)),
            ("c.example-1", 500, RetryDecision(Verdict.DEAD_LETTER)),
        ]
        # A broken observer is skipped: every outcome is still written, with its verdict.
        assert queue.statuses() == {
            "a.example-1": DeliveryStatus.DELIVERED, "b.example-1": DeliveryStatus.PENDING,
            "c.example-1": DeliveryStatus.FAILED,
        }
        assert {o.delivery_id: o.retry_in_ms for o in queue.written}["b.example-1"] == 5000
        await d.stop()

    run(scenario)


def test_outcomes_that_fail_to_commit_are_written_again_once_in_order() -> None:
    async def scenario() -> None:
        queue = FakeQueue(fail_writes=2)
        pokes: list[None] = []
        writer = OutcomeWriter(
            queue, POLICY, on_pending=lambda: pokes.append(None), retry_write_after=0
        )
        writer.record(job(1), ok())
        writer.record(job(2), server_error())
        await writer.drain()
        writer.record(job(3), ok())
        await writer.drain()
        assert [o.delivery_id for o in queue.written] == [
            "a.example-1", "a.example-2", "a.example-3"
        ]
        assert writer.unwritten == 0
        assert len(pokes) == 1  # the batch with a retry in it, once it was committed

    run(scenario)


class _Heartbeats:
    """Other processes share the queue: the dispatcher listens for their NOTIFYs."""

    async def heartbeat(self, worker_id: str) -> None:
        pass


def test_a_notify_claims_what_is_due_without_looking_up_the_next_due_time_again() -> None:
    """Every dispatcher wakes on another process's NOTIFY and most find nothing to claim: the
    next due time they know still holds, so only this process's own news looks it up again."""

    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = Dispatcher(
            queue, transport, POLICY, max_in_flight=100, max_in_flight_per_endpoint=100,
            lease_ms=60_000, poll_interval=NEVER, heartbeats=_Heartbeats(),
        )
        await d.start()
        await until(lambda: queue.next_due_lookups == 1)  # the first look: nothing due
        queue.notify()
        await until(lambda: len(queue.claims) == 2)
        queue.due = [job(1)]
        queue.notify()
        await transport.wait_sent(1)
        assert (len(queue.claims), queue.next_due_lookups) == (3, 1)
        d.poke()  # e.g. this process scheduled a retry
        await until(lambda: queue.next_due_lookups == 2)
        assert len(queue.claims) == 4
        transport.answer("a.example-1", ok())
        await d.stop()

    run(scenario)


def test_an_ordered_deliverys_end_wakes_the_claim_loop_and_carries_its_line() -> None:
    async def scenario() -> None:
        queue = FakeQueue()
        pokes: list[None] = []
        writer = OutcomeWriter(queue, POLICY, on_pending=lambda: pokes.append(None))
        ordered = dataclasses.replace(job(1), order_key="w:14155550123@c.us")
        writer.record(ordered, ok())
        await writer.drain()
        writer.record(job(2), ok())
        await writer.drain()
        # The ordered one's end made the next of its chat due in the database: look now.
        assert len(pokes) == 1
        assert [(o.webhook_id, o.order_key) for o in queue.written] == [
            (ordered.webhook_id, "w:14155550123@c.us"), (job(2).webhook_id, None)
        ]

    run(scenario)


def _wire(transport: FakeTransport, prefix: str) -> list[str]:
    return sorted(i for i in transport.on_the_wire() if i.startswith(prefix + "-"))


def test_overload_cuts_the_endpoints_concurrency_and_success_grows_it_back() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = dispatcher(queue, transport, per_endpoint=4)
        url = "https://a.example/hook"
        d.submit([job(n) for n in range(1, 31)] + [job(n, "b.example") for n in range(1, 11)])
        await transport.wait_sent(8)
        assert len(_wire(transport, "a.example")) == 4
        assert len(_wire(transport, "b.example")) == 4

        # Four 429s from one round of attempts: one cut (4 -> 2), not four.
        transport.answer("a.example-1", overloaded(429))
        await until(lambda: d.in_flight == 7)
        transport.answer("a.example-2", overloaded(429))
        await until(lambda: d.in_flight == 6)  # a.example: 2 on the wire, at its new limit
        assert d.concurrency_limit(url) == 2
        transport.answer("a.example-3", overloaded(429))
        await transport.wait_sent(9)
        transport.answer("a.example-4", overloaded(503, retry_after=None))
        await transport.wait_sent(10)
        assert d.concurrency_limit(url) == 2
        assert _wire(transport, "a.example") == ["a.example-5", "a.example-6"]

        # b.example is not slowed: its four answers let four more start at once.
        for n in range(1, 5):
            transport.answer(f"b.example-{n}", ok())
        await transport.wait_sent(14)
        assert len(_wire(transport, "b.example")) == 4
        assert d.concurrency_limit("https://b.example/hook") == 4

        # Each success grows a.example's limit by one, back to the setting.
        transport.answer("a.example-5", ok())
        await transport.wait_sent(16)
        assert d.concurrency_limit(url) == 3
        assert len(_wire(transport, "a.example")) == 3
        transport.answer("a.example-6", ok())
        await transport.wait_sent(18)
        assert d.concurrency_limit(url) == 4
        assert len(_wire(transport, "a.example")) == 4

        # A 429 from the new round cuts again; it never goes below one.
        transport.answer("a.example-7", overloaded(429))
        await until(lambda: d.concurrency_limit(url) == 2)
        for n in (8, 9, 10):  # same round: no further cut
            transport.answer(f"a.example-{n}", overloaded(429))
        await transport.wait_sent(20)
        assert d.concurrency_limit(url) == 2
        first, second = _wire(transport, "a.example")
        transport.answer(first, overloaded(429))  # a new round: 2 -> 1
        await until(lambda: d.concurrency_limit(url) == 1)
        transport.answer(second, overloaded(429))  # same round: no cut; one more starts
        await transport.wait_sent(21)
        (third,) = _wire(transport, "a.example")
        transport.answer(third, overloaded(429))
        await transport.wait_sent(22)
        assert d.concurrency_limit(url) == 1
        assert len(_wire(transport, "a.example")) == 1
        await d.stop(grace=0)

        # The verdicts are the policy's: each 429/503 is a retry, not a dead letter.
        assert {o.status for o in queue.written if o.delivery_id.startswith("a.example-")} == {
            DeliveryStatus.PENDING, DeliveryStatus.DELIVERED
        }

    run(scenario)


def test_a_hanging_webhook_costs_only_its_own_share_of_its_origin() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = dispatcher(queue, transport, per_endpoint=8)  # a lone webhook leaves 1 of 8 free
        d.submit([job(n, path="hang") for n in range(1, 101)])
        await transport.wait_sent(7)
        assert len(_wire(transport, "a.example/hang")) == 7
        assert d.in_flight == 7

        # A healthy webhook on the same origin finds the reserved slot, and keeps it in turn,
        # while every attempt of the hanging one stays on the wire.
        d.submit([job(n, path="ok") for n in range(1, 21)])
        for n in range(1, 21):
            await until(lambda n=n: f"a.example/ok-{n}" in transport.on_the_wire())
            assert d.in_flight <= 8
            transport.answer(f"a.example/ok-{n}", ok())
        await until(lambda: len(queue.written) == 20)
        assert len(_wire(transport, "a.example/hang")) == 7

        # Now two webhooks share the origin: as the hanging one's attempts end, each gets at
        # most half of the 7 shared slots, rounded up (4), while the other has work.
        d.submit([job(n, path="ok") for n in range(21, 41)])
        await until(lambda: "a.example/ok-21" in transport.on_the_wire())
        for n in range(1, 6):
            transport.answer(f"a.example/hang-{n}", server_error())
        # 7 + 20 + 4 sent to the healthy webhook + 2 more to the hanging one: each at its share.
        await until(lambda: len(transport.sent) == 33 and d.in_flight == 8)
        assert len(_wire(transport, "a.example/ok")) == 4
        assert _wire(transport, "a.example/hang")[:2] == ["a.example/hang-6", "a.example/hang-7"]
        assert len(_wire(transport, "a.example/hang")) == 4
        assert d.saturated_webhooks() == {"wh-a.example/hang"}  # 64 queued, the rest released
        await d.stop(grace=0)

    run(scenario)


def test_a_saturated_webhook_does_not_spill_its_neighbours_on_the_same_origin() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = dispatcher(queue, transport, per_endpoint=8)  # queue cap: 64 jobs per webhook
        d.submit([job(n, path="hang") for n in range(1, 80)])
        assert d.saturated_webhooks() == {"wh-a.example/hang"}
        d.submit([job(n, path="ok") for n in range(1, 4)])
        assert d.saturated_webhooks() == {"wh-a.example/hang"}  # not its neighbour
        await until(lambda: "a.example/ok-1" in transport.on_the_wire())
        await until(lambda: len(queue.released) == 15)
        assert queue.released == [f"a.example/hang-{n}" for n in range(65, 80)]
        await d.stop(grace=0)

    run(scenario)


def test_a_busy_dispatcher_defers_only_webhooks_with_deliveries_waiting() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = dispatcher(queue, transport, max_in_flight=1)  # high water: 2048 waiting
        await d.start()
        assert d.deferred_webhooks() == frozenset()
        # 10 hosts x 210: each webhook's queue under its cap (400), none saturated.
        d.submit([job(n, f"h{origin}.example") for n in range(1, 211) for origin in range(10)])
        assert not d.saturated_webhooks() and not d.wants_more()
        # Busy: ingest leaves the backlog's new deliveries in the database, but still claims for
        # a webhook with nothing waiting, so its fresh event does not queue behind the backlog.
        deferred = d.deferred_webhooks()
        assert deferred == {f"wh-h{origin}.example" for origin in range(10)}
        assert d.claims_at_ingest() and "wh-fresh.example" not in deferred
        await d.stop(grace=0)
        assert not d.claims_at_ingest()

    run(scenario)


def test_one_account_cannot_take_every_global_slot() -> None:
    async def scenario() -> None:
        queue, transport = FakeQueue(), FakeTransport()
        d = dispatcher(queue, transport, max_in_flight=16)  # a lone account leaves 2 of 16 free
        hanging = [
            job(n, f"h{origin}.example", account="acct-hang")
            for n in range(1, 11) for origin in range(10)
        ]
        d.submit(hanging)
        await transport.wait_sent(14)
        assert d.in_flight == 14

        # Another account's deliveries go out on the two free slots while all 14 hang.
        d.submit([job(n, "other.example", account="acct-other") for n in range(1, 31)])
        await until(lambda: len(_wire(transport, "other.example")) == 2)
        for n in range(1, 31):
            await until(lambda n=n: f"other.example-{n}" in transport.on_the_wire())
            transport.answer(f"other.example-{n}", ok())
        await until(lambda: len(queue.written) == 30)
        assert d.in_flight == 14

        # While both have work, the hanging account gets back at most its half (7) as its
        # attempts end; the rest go to the other account.
        d.submit([job(n, "other.example", account="acct-other") for n in range(31, 61)])
        await until(lambda: len(_wire(transport, "other.example")) == 2)
        hung = [i for i in transport.on_the_wire() if i.startswith("h")]
        for delivery_id in hung[:10]:
            transport.answer(delivery_id, server_error())
        # 14 + 30 + 2 sent before; then 5 more to the other account and 3 to the hanging one.
        await until(lambda: len(transport.sent) == 54 and d.in_flight == 14)
        assert len(_wire(transport, "other.example")) == 7
        assert len([i for i in transport.on_the_wire() if i.startswith("h")]) == 7
        await d.stop(grace=0)

    run(scenario)
