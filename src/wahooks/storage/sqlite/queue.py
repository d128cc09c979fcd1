"""The delivery queue on SQLite: ingest, claims under leases, outcomes, recovery of expired leases.
The statements are in sqlite/queries.sql, beside PostgreSQL's."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from typing import Any

import orjson

from wahooks.chats import line_key
from wahooks.clock import now_ms
from wahooks.ids import uuid7
from wahooks.models import DeliveryJob, DeliveryStatus, Trigger
from wahooks.storage.health import (
    DEFAULT_DISABLE_RULE,
    DisableRule,
    disable_where_due,
    health_updates,
    held_if_disabled,
)
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
from wahooks.storage.sqlite.active_webhooks import ActiveWebhooks
from wahooks.storage.sqlite.database import SqliteDatabase
from wahooks.storage.sqlite.lines import lease_next, let_next_go, line_state
from wahooks.storage.sqlite.sql import SQL
from wahooks.storage.subscriptions import Subscriber, subscribers_to
from wahooks.storage.webhook_changes import WebhookChanges


class SqliteQueue:
    def __init__(
        self, db: SqliteDatabase, active: ActiveWebhooks, changes: WebhookChanges
    ) -> None:
        self.db = db
        self._active = active
        self._changes = changes

    async def ingest(
        self,
        events: list[NewEvent],
        *,
        claim_lease_ms: int | None,
        only_webhook: str | None = None,
        defer_webhooks: Collection[str] = (),
    ) -> list[list[DeliveryJob] | None]:
        """Each event's deliveries; None for an event skipped because its replay key was taken
        before (by an earlier transaction or an earlier event of this one)."""

        def work(conn: sqlite3.Connection) -> list[list[DeliveryJob] | None]:
            now = now_ms()
            claim_until = None if claim_lease_ms is None else now + claim_lease_ms
            return [
                _ingest_one(
                    conn, self._active, event, now, claim_until, only_webhook, defer_webhooks
                )
                for event in events
            ]

        return await self.db.write(work)

    async def claim_due(
        self, limit: int, lease_ms: int, *, skip_webhooks: Collection[str] = ()
    ) -> list[DeliveryJob]:
        skipped = _json_list(skip_webhooks)

        def work(conn: sqlite3.Connection) -> list[DeliveryJob]:
            now = now_ms()
            rows = conn.execute(SQL["claim_due"], (now, skipped, limit)).fetchall()
            conn.executemany(SQL["claim_lease"], [(now + lease_ms, row[0]) for row in rows])
            return [_job(row, row[6] + 1) for row in rows]

        return await self.db.write(work)

    async def next_due_in_ms(self, *, skip_webhooks: Collection[str] = ()) -> int | None:
        skipped = _json_list(skip_webhooks)
        row = await self.db.read(lambda c: c.execute(SQL["next_due"], (skipped,)).fetchone())
        return None if row[0] is None else max(int(row[0]) - now_ms(), 0)

    async def queue_depth(self) -> QueueDepth:
        def work(conn: sqlite3.Connection) -> QueueDepth:
            now = now_ms()
            (oldest,) = conn.execute(SQL["oldest_due"], (now,)).fetchone()
            rows = conn.execute(SQL["queue_depth"]).fetchall()
            return queue_depth(rows, None if oldest is None else now - oldest)

        return await self.db.read(work)

    async def extend_leases(self, delivery_ids: list[str], lease_ms: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            until = now_ms() + lease_ms
            conn.executemany(SQL["extend_lease"], [(until, id_) for id_ in delivery_ids])

        await self.db.write(work)

    def listen_due(self, callback: Callable[[], None]) -> None:
        """Nothing to listen to: only this process writes the file, and it pokes directly."""

    async def release(self, delivery_ids: list[str]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(SQL["release"], [(now, id_) for id_ in delivery_ids])

        now = now_ms()
        await self.db.write(work)

    async def record_outcomes(
        self,
        outcomes: list[RecordedOutcome],
        *,
        disable: DisableRule = DEFAULT_DISABLE_RULE,
        lease_next_ms: int | None = None,
    ) -> WrittenOutcomes:
        """Record the batch and each webhook's health. With `lease_next_ms`, the deliveries whose
        chat's turn these outcomes began are leased for the caller and returned as jobs."""

        def work(conn: sqlite3.Connection) -> WrittenOutcomes:
            now = now_ms()
            disabled, changes = self._update_health(conn, outcomes, now, disable)
            settled = [held_if_disabled(o, disabled) for o in outcomes]
            conn.executemany(SQL["record_attempt"], [
                (o.delivery_id, o.attempt, o.outcome.started_at, o.outcome.duration_ms,
                 o.outcome.status_code, o.outcome.error,
                 None if o.outcome.error_class is None else o.outcome.error_class.value,
                 o.outcome.response_body, headers_json(o.outcome.response_headers),
                 o.trigger.value, sent_request_json(o.outcome.request), o.delivery_id)
                for o in outcomes
            ])
            conn.executemany(SQL["record_outcome"], [
                (o.status.value, None if o.retry_in_ms is None else now + o.retry_in_ms,
                 o.outcome.started_at + int(o.outcome.duration_ms)
                 if o.status is DeliveryStatus.DELIVERED else None,
                 o.delivery_id)
                for o in settled
            ])
            ended = turns_ended(outcomes)
            leased: list[str] = []
            if ended:
                handed = turns_handed_over(ended, disabled, lease_next_ms)
                let_next_go(conn, ended - handed, now)
                if handed and lease_next_ms is not None:
                    leased = lease_next(conn, handed, now, now + lease_next_ms)
            conn.executemany(
                SQL["hold_pending"], [(change.webhook_id,) for change in changes]
            )
            rows = (
                conn.execute(SQL["leased_jobs"], (_json_list(leased),)).fetchall()
                if leased else []
            )
            # Their attempt is already counted (line_next_leased).
            return WrittenOutcomes(changes, [_job(row, row[6]) for row in rows])

        written = await self.db.write(work)
        self._changes.emit(written.changes)
        return written

    def _update_health(
        self, conn: sqlite3.Connection, outcomes: list[RecordedOutcome], now: int,
        rule: DisableRule,
    ) -> tuple[set[str], list[WebhookStateChange]]:
        """Fold the batch into each webhook's health and disable those the rule says must be;
        the ids of the batch's disabled webhooks, and the changes made now."""
        updates = health_updates(outcomes)
        rows = [
            row for update in updates
            for row in conn.execute(SQL["update_health"], {
                "id": update.webhook_id, "success_at": update.success_at,
                "failure_at": update.failure_at, "succeeded": update.succeeded,
                "dead_letters": update.dead_letters, "first_failure": update.first_failure,
            })  # no row: the webhook was deleted meanwhile
        ]
        disabled, changes = disable_where_due(rows, updates, now=now, rule=rule)
        if changes:
            self._active.forget()  # ingest must hold their events from now on
            conn.executemany(SQL["disable_webhook"], [
                (str(change.disabled_reason), now, change.webhook_id) for change in changes
            ])
        return disabled, changes

    async def recover_expired_leases(self, *, all_leases: bool = False) -> int:
        def work(conn: sqlite3.Connection) -> int:
            now = now_ms()
            rows = conn.execute(SQL["expired_leases"], (int(all_leases), now)).fetchall()
            conn.executemany(SQL["log_interrupted"], [
                (id_, attempts, now, INTERRUPTED, trigger)
                for id_, attempts, trigger in rows if attempts > 0
            ])
            conn.executemany(SQL["due_again"], [(now, id_) for id_, _, _ in rows])
            return len(rows)

        return await self.db.write(work)


def _job(row: tuple[Any, ...], attempt: int) -> DeliveryJob:
    """A claim_due (or leased_jobs) row as the job the dispatcher sends."""
    return DeliveryJob(
        row[0], row[1], row[2], row[3], row[4], row[5], attempt, row[7], row[8], row[9], row[10],
        Trigger(row[11]), row[12],
    )


def _json_list(values: Collection[str]) -> str:
    """A list parameter, as the `json_each(?)` in the named queries reads it."""
    return orjson.dumps(list(values)).decode()


def _ingest_one(
    conn: sqlite3.Connection,
    active: ActiveWebhooks,
    event: NewEvent,
    now: int,
    claim_until: int | None,
    only_webhook: str | None,
    defer_webhooks: Collection[str],
) -> list[DeliveryJob] | None:
    replay = event.replay_key
    if replay is not None and not conn.execute(
        SQL["claim_waha_event"], (replay.session_name, replay.event_id, replay.received_at_ms)
    ).rowcount:
        return None
    targets = _targets(conn, active, event, only_webhook)
    if not targets:
        return []
    event_id = uuid7()
    conn.execute(
        SQL["insert_event"], (event_id, event.connection_id, event.event_type, event.body, now)
    )
    # The test event is the only one sent to a named webhook (and is never ordered).
    trigger = Trigger.SCHEDULED if only_webhook is None else Trigger.TEST
    jobs: list[DeliveryJob] = []
    # (id, webhook, event, type, status, attempts, due, lease until, created, trigger, line, place)
    rows: list[tuple[
        str, str, str, str, str, int, int | None, int | None, int, str, str | None, int | None
    ]] = []
    for target in targets:
        key = place = None
        claim = claim_until is not None and target.webhook_id not in defer_webhooks
        due: int | None = now
        if target.ordered and only_webhook is None:
            key = line_key(target.webhook_id, event.chat_id)
            line = line_state(conn, key)
            place = line.last + 1
            if line.busy:  # its turn comes when the one before it ends (sqlite/lines.py)
                claim, due = False, None
        if target.held:
            # A disabled webhook's deliveries are stored and held, not handed to the dispatcher;
            # an ordered one takes its place, and replay joins them to their lines in that order.
            rows.append((
                uuid7(), target.webhook_id, event_id, event.event_type, "held", 0, None, None,
                now, trigger.value, key, place,
            ))
            continue
        job = DeliveryJob(
            uuid7(), target.webhook_id, target.url, target.signing_secret, event.event_type,
            event.body, 1 if claim else 0, 0, target.previous_secret,
            target.previous_secret_expires_at, target.account_id, trigger, key,
        )
        jobs.append(job)
        rows.append((
            job.delivery_id, job.webhook_id, event_id, event.event_type, "pending", job.attempt,
            due, claim_until if claim else None, now, trigger.value, key, place,
        ))
    conn.executemany(SQL["insert_delivery"], rows)
    return jobs


def _targets(
    conn: sqlite3.Connection, active: ActiveWebhooks, event: NewEvent, only_webhook: str | None
) -> list[Subscriber]:
    if only_webhook is None:
        return subscribers_to(active.of(conn, event.connection_id), event.event_type)
    return [
        Subscriber(id_, url, secret, frozenset(), previous, previous_expires_at, account_id)
        for id_, url, secret, _, previous, previous_expires_at, account_id, _ in conn.execute(
            SQL["one_webhook"], (only_webhook,)
        )
    ]
