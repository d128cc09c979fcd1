"""The delivery queue on PostgreSQL: group-committed ingest, SKIP LOCKED claims under leases,
outcomes, recovery. The statements are in postgres/queries.sql, beside SQLite's."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from wahooks.chats import line_key
from wahooks.clock import now_ms
from wahooks.ids import uuid7
from wahooks.models import DeliveryJob, DeliveryStatus, Ordering, Trigger
from wahooks.storage.batching import Batcher
from wahooks.storage.health import (
    DEFAULT_DISABLE_RULE,
    DisableRule,
    HealthUpdate,
    disable_where_due,
    health_updates,
    held_if_disabled,
)
from wahooks.storage.postgres.database import DUE_CHANNEL, WEBHOOK_STATE_CHANNEL, PostgresDatabase
from wahooks.storage.postgres.lines import (
    Line,
    lease_next,
    let_next_go,
    line_states,
    lock_lines,
)
from wahooks.storage.postgres.sql import SQL
from wahooks.storage.records import (
    INTERRUPTED,
    NewEvent,
    QueueDepth,
    RecordedOutcome,
    WebhookStateChange,
    WrittenOutcomes,
    turns_ended,
    turns_handed_over,
)
from wahooks.storage.request_headers import sent_request_json
from wahooks.storage.rows import headers_json, queue_depth
from wahooks.storage.subscriptions import Subscriber, subscribers_to
from wahooks.storage.webhook_changes import encode

# For each (connection, event type, only_webhook) of an ingest batch: the webhooks it goes to.
_Targets = dict[tuple[str, str, str | None], list[Subscriber]]


@dataclass(frozen=True, slots=True)
class _IngestItem:
    events: list[NewEvent]
    claim_lease_ms: int | None
    only_webhook: str | None
    defer_webhooks: Collection[str]


class PostgresQueue:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._ingest = Batcher(self._ingest_batch)

    async def ingest(
        self,
        events: list[NewEvent],
        *,
        claim_lease_ms: int | None,
        only_webhook: str | None = None,
        defer_webhooks: Collection[str] = (),
    ) -> list[list[DeliveryJob] | None]:
        """Each event's deliveries; None for an event skipped because its replay key was taken
        before (by an earlier transaction or an earlier event of this batch)."""
        return await self._ingest.submit(
            _IngestItem(events, claim_lease_ms, only_webhook, defer_webhooks)
        )

    async def _ingest_batch(
        self, items: list[_IngestItem]
    ) -> list[list[list[DeliveryJob] | None]]:
        async def work(c: Any) -> list[list[list[DeliveryJob] | None]]:
            # Replay keys first, then the chat lines: the order every process takes them in.
            repeated = await _claim_replay_keys(c, items)
            targets = await _targets(c, items)
            lines = _lines_of(items, targets)
            states: dict[Line, tuple[int, bool]] = {}
            if lines:
                await lock_lines(c, lines)
                states = await line_states(c, lines)
            rows = _IngestRows(states)
            answers = [
                [
                    None if (i, j) in repeated else rows.add(item, event, targets.get(
                        (event.connection_id, event.event_type, item.only_webhook), []
                    ))
                    for j, event in enumerate(item.events)
                ]
                for i, item in enumerate(items)
            ]
            await rows.insert(c)
            return answers

        return await self._db.run(work, transaction=True)

    async def claim_due(
        self, limit: int, lease_ms: int, *, skip_webhooks: Collection[str] = ()
    ) -> list[DeliveryJob]:
        # One statement, atomic on its own: no BEGIN and COMMIT round trips around it (every
        # worker claims on every NOTIFY, so this is the statement most often run).
        rows = await self._db.run(
            lambda c: c.fetch(SQL["claim_due"], limit, lease_ms, list(skip_webhooks))
        )
        return [_job(r) for r in rows]

    async def next_due_in_ms(self, *, skip_webhooks: Collection[str] = ()) -> int | None:
        value = await self._db.run(lambda c: c.fetchval(SQL["next_due"], list(skip_webhooks)))
        return None if value is None else max(int(value), 0)

    async def queue_depth(self) -> QueueDepth:
        async def work(c: Any) -> QueueDepth:
            oldest = await c.fetchval(SQL["oldest_due"])
            return queue_depth(await c.fetch(SQL["queue_depth"]), oldest)

        return await self._db.run(work)

    async def extend_leases(self, delivery_ids: list[str], lease_ms: int) -> None:
        await self._db.run(lambda c: c.execute(SQL["extend_leases"], delivery_ids, lease_ms))

    def listen_due(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever another process leaves deliveries due in the database."""
        self._db.listen(DUE_CHANNEL, lambda _: callback(), on_connect=callback)

    async def release(self, delivery_ids: list[str]) -> None:
        await self._db.run(lambda c: c.execute(SQL["release"], delivery_ids))

    async def record_outcomes(
        self,
        outcomes: list[RecordedOutcome],
        *,
        disable: DisableRule = DEFAULT_DISABLE_RULE,
        lease_next_ms: int | None = None,
    ) -> WrittenOutcomes:
        """Record the batch and each webhook's health. With `lease_next_ms`, the deliveries whose
        chat's turn these outcomes began are leased for the caller and returned as jobs."""
        ended = turns_ended(outcomes)
        if not ended and all(
            o.status is DeliveryStatus.DELIVERED and o.outcome.succeeded for o in outcomes
        ):
            # The common batch: nothing in it can disable a webhook, hold a delivery or end a
            # chat's turn, so its webhooks' health (their streaks reset) is written with the
            # outcomes, in one statement and no transaction around it (one round trip, not four).
            successes = health_updates(outcomes)
            await self._db.run(lambda c: _settle(c, outcomes, outcomes, successes))
            return WrittenOutcomes([], [])

        async def work(c: Any) -> WrittenOutcomes:
            # Line locks first, then the webhooks' rows (in _update_health): every writer takes
            # them in that order, so none waits on another in a cycle.
            if ended:
                await lock_lines(c, ended)
            disabled, changes = await _update_health(c, outcomes, disable)
            await _settle(c, outcomes, [held_if_disabled(o, disabled) for o in outcomes], [])
            # An outcome not applied (its lease was lost) leaves its line's first one pending:
            # then nothing moves.
            leased = []
            if ended:
                handed = turns_handed_over(ended, disabled, lease_next_ms)
                if ended - handed:
                    await let_next_go(c, ended - handed)
                if handed and lease_next_ms is not None:
                    leased = await lease_next(c, handed, lease_next_ms)
            if changes:
                await c.execute(SQL["hold_pending"], [change.webhook_id for change in changes])
                for change in changes:
                    await c.execute(
                        "SELECT pg_notify($1, $2)", WEBHOOK_STATE_CHANNEL, encode(change)
                    )
            return WrittenOutcomes(changes, [_job(r) for r in leased])

        return await self._db.run(work, transaction=True)

    async def recover_expired_leases(self, *, all_leases: bool = False) -> int:
        # Other processes may hold leases: `all_leases` cannot apply, only expired ones go back.
        rows = await self._db.run(
            lambda c: c.fetch(SQL["recover_expired_leases"], INTERRUPTED), transaction=True
        )
        if rows:
            await self._db.run(lambda c: c.execute(f"NOTIFY {DUE_CHANNEL}"))
        return len(rows)


async def _settle(
    c: Any, outcomes: list[RecordedOutcome], settled: list[RecordedOutcome],
    successes: list[HealthUpdate],
) -> None:
    """Log each outcome's attempt and settle its delivery as `settled` says; `successes`: webhooks
    whose health to reset here (an all-success batch), when _update_health did not run."""
    await c.execute(
        SQL["record_outcomes"], [o.delivery_id for o in outcomes], [o.attempt for o in outcomes],
        [o.outcome.started_at for o in outcomes], [o.outcome.duration_ms for o in outcomes],
        [o.outcome.status_code for o in outcomes], [o.outcome.error for o in outcomes],
        [None if o.outcome.error_class is None else o.outcome.error_class.value
         for o in outcomes],
        [o.outcome.response_body for o in outcomes],
        [headers_json(o.outcome.response_headers) for o in outcomes],
        [o.trigger.value for o in outcomes],
        [sent_request_json(o.outcome.request) for o in outcomes],
        [o.status.value for o in settled], [o.retry_in_ms for o in settled],
        [o.outcome.started_at + int(o.outcome.duration_ms) for o in settled],
        [u.webhook_id for u in successes], [u.success_at for u in successes],
    )


async def _update_health(
    c: Any, outcomes: list[RecordedOutcome], rule: DisableRule
) -> tuple[set[str], list[WebhookStateChange]]:
    """Fold the batch into each webhook's health (one statement) and disable those the rule says
    must be; the ids of the batch's disabled webhooks, and the changes made now."""
    updates = health_updates(outcomes)
    ids = [update.webhook_id for update in updates]
    rows = await c.fetch(
        SQL["update_health"], ids, [u.success_at for u in updates],
        [u.failure_at for u in updates], [u.succeeded for u in updates],
        [u.dead_letters for u in updates], [u.first_failure for u in updates],
    )
    now = now_ms()
    disabled, changes = disable_where_due(rows, updates, now=now, rule=rule)
    if changes:
        await c.execute(
            SQL["disable_webhooks"], [change.webhook_id for change in changes],
            [str(change.disabled_reason) for change in changes], now,
        )
    return disabled, changes
def _job(r: Any) -> DeliveryJob:
    """A claim_due (or lines_next_leased) row, its attempt counted, as the job to send."""
    return DeliveryJob(
        str(r[0]), str(r[1]), r[2], r[3], r[4], bytes(r[5]), r[6], r[7], r[8], r[9], str(r[10]),
        Trigger(r[11]), r[12],
    )


def _lines_of(items: list[_IngestItem], targets: _Targets) -> set[Line]:
    """The chat lines an ingest batch adds to (its ordered webhooks' deliveries)."""
    return {
        (target.webhook_id, line_key(target.webhook_id, event.chat_id))
        for item in items if item.only_webhook is None
        for event in item.events
        for target in targets.get((event.connection_id, event.event_type, None), ())
        if target.ordered
    }


@dataclass
class _IngestRows:
    """The rows one ingest batch inserts: written with one statement per table (unnest)."""

    lines: dict[Line, tuple[int, bool]]  # (locked) per line: last place, busy
    events: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    # (id, webhook, event, type, attempts, lease in ms, trigger, status, order key, place, waiting)
    deliveries: list[
        tuple[str, str, str, str, int, int | None, str, str, str | None, int | None, bool]
    ] = field(default_factory=list)
    # Lines whose held deliveries became pending after all (an enable committed meanwhile): their
    # first one is made due once inserted.
    released: set[Line] = field(default_factory=set)

    def add(self, item: _IngestItem, event: NewEvent, targets: list[Subscriber]
            ) -> list[DeliveryJob]:
        if not targets:
            return []
        event_id = uuid7()
        self.events.append((event_id, event.connection_id, event.event_type, event.body))
        # The test event is the only one sent to a named webhook.
        trigger = Trigger.SCHEDULED if item.only_webhook is None else Trigger.TEST
        jobs = []
        for target in targets:
            lease = item.claim_lease_ms
            if target.webhook_id in item.defer_webhooks:
                lease = None
            key = place = None
            waiting = False
            if target.ordered and item.only_webhook is None:
                key = line_key(target.webhook_id, event.chat_id)
                last, busy = self.lines[(target.webhook_id, key)]
                place = last + 1
                # A held delivery takes its place (replay keeps that order) but is not pending:
                # it does not make its line busy.
                self.lines[(target.webhook_id, key)] = (place, busy or not target.held)
                waiting = busy
                if waiting:  # its turn comes when the one before it ends (postgres/lines.py)
                    lease = None
            if target.held:  # stored, not handed to the dispatcher (see `insert`)
                self.deliveries.append((
                    uuid7(), target.webhook_id, event_id, event.event_type, 0, None,
                    trigger.value, DeliveryStatus.HELD.value, key, place, False,
                ))
                continue
            jobs.append(DeliveryJob(
                uuid7(), target.webhook_id, target.url, target.signing_secret, event.event_type,
                event.body, 0 if lease is None else 1, 0, target.previous_secret,
                target.previous_secret_expires_at, target.account_id, trigger, key,
            ))
            self.deliveries.append((
                jobs[-1].delivery_id, target.webhook_id, event_id, event.event_type,
                jobs[-1].attempt, lease, trigger.value,
                DeliveryStatus.PENDING.value, key, place, waiting,
            ))
        return jobs

    async def insert(self, c: Any) -> None:
        if not self.events:
            return
        await self._confirm_held(c)
        due_unclaimed = any(
            row[4] == 0 and row[7] == DeliveryStatus.PENDING and not row[10]
            for row in self.deliveries
        )
        await c.execute(
            SQL["insert_batch"], *zip(*self.events, strict=True),
            *zip(*self.deliveries, strict=True), due_unclaimed,
        )
        if self.released:
            await let_next_go(c, self.released)

    async def _confirm_held(self, c: Any) -> None:
        """Hold only for webhooks still disabled, under a share lock that an enable waits for;
        a webhook enabled since the subscribers were read gets its deliveries due now."""
        held = sorted({row[1] for row in self.deliveries if row[7] == DeliveryStatus.HELD})
        if not held:
            return
        held_set = set(held)
        still = {str(row[0]) for row in await c.fetch(SQL["still_disabled"], held)}
        # An ordered one waits in its line (made due below if it is the line's first pending).
        self.deliveries = [
            row if row[7] != DeliveryStatus.HELD or row[1] in still
            else (*row[:7], DeliveryStatus.PENDING.value, row[8], row[9], row[8] is not None)
            for row in self.deliveries
        ]
        self.released = {
            (row[1], row[8]) for row in self.deliveries
            if row[8] is not None and row[7] == DeliveryStatus.PENDING and row[1] in held_set
            and row[1] not in still
        }


async def _claim_replay_keys(c: Any, items: list[_IngestItem]) -> set[tuple[int, int]]:
    """Take the batch's replay keys; the positions (item, event) of the events to skip, whose key
    was taken before this batch or by an earlier event of it (the same id twice in one group
    commit is taken once)."""
    first: dict[tuple[str, str], tuple[int, int]] = {}
    received: dict[tuple[str, str], int] = {}
    repeated: set[tuple[int, int]] = set()
    for i, item in enumerate(items):
        for j, event in enumerate(item.events):
            key = event.replay_key
            if key is None:
                continue
            name = (key.session_name, key.event_id)
            if name in first:
                repeated.add((i, j))
            else:
                first[name], received[name] = (i, j), key.received_at_ms
    if not first:
        return repeated
    names = list(first)
    taken = {
        (row[0], row[1]) for row in await c.fetch(
            SQL["claim_waha_events"], [session for session, _ in names],
            [event_id for _, event_id in names], [received[name] for name in names],
        )
    }
    repeated.update(first[name] for name in names if name not in taken)
    return repeated


async def _targets(c: Any, items: list[_IngestItem]) -> _Targets:
    """For each (connection, event type, only_webhook) in the batch, the webhooks to deliver to."""
    found: _Targets = {}
    subscribed = [item for item in items if item.only_webhook is None]
    connection_ids = sorted({e.connection_id for item in subscribed for e in item.events})
    if connection_ids:
        by_connection: dict[str, list[Subscriber]] = {}
        for r in await c.fetch(SQL["active_webhooks"], connection_ids):
            by_connection.setdefault(str(r[1]), []).append(
                Subscriber(str(r[0]), r[2], r[3], frozenset(r[4]), r[5], r[6], str(r[7]), r[8],
                           r[9] == Ordering.CHAT)
            )
        for item in subscribed:
            for event in item.events:
                key = (event.connection_id, event.event_type, None)
                if key not in found:
                    found[key] = subscribers_to(
                        by_connection.get(event.connection_id, []), event.event_type
                    )
    named = {item.only_webhook: item for item in items if item.only_webhook is not None}
    if named:
        rows = await c.fetch(SQL["webhooks_by_id"], sorted(named))
        for r in rows:
            target = Subscriber(str(r[0]), r[1], r[2], frozenset(), r[3], r[4], str(r[5]))
            for item in items:
                if item.only_webhook == target.webhook_id:
                    for event in item.events:
                        found[(event.connection_id, event.event_type, target.webhook_id)] = [target]
    return found
