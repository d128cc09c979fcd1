"""The delivery queue: ingest, claims under leases, outcomes, recovery of expired leases."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from typing import Any

from wahooks.clock import now_ms
from wahooks.ids import uuid7
from wahooks.models import (
    DeliveryJob,
    DeliveryStatus,
)
from wahooks.storage.records import (
    INTERRUPTED,
    NewEvent,
    RecordedOutcome,
)
from wahooks.storage.sqlite.database import SqliteDatabase
from wahooks.storage.sqlite.subscriptions import ActiveWebhooks


class SqliteQueue:
    def __init__(self, db: SqliteDatabase, active: ActiveWebhooks) -> None:
        self.db = db
        self._active = active

    async def ingest(
        self,
        events: list[NewEvent],
        *,
        claim_lease_ms: int | None,
        only_webhook: str | None = None,
        defer_webhooks: Collection[str] = (),
    ) -> list[list[DeliveryJob]]:
        def work(conn: sqlite3.Connection) -> list[list[DeliveryJob]]:
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
        skip, skipped = _not_in("d.webhook_id", skip_webhooks)

        def work(conn: sqlite3.Connection) -> list[DeliveryJob]:
            now = now_ms()
            lease_until = now + lease_ms
            rows = conn.execute(
                "SELECT d.id, d.webhook_id, w.url, w.signing_secret, d.event_type, e.body,"
                " d.attempts, d.cycle_start"
                " FROM deliveries d JOIN events e ON e.id = d.event_id"
                " JOIN webhooks w ON w.id = d.webhook_id"
                " WHERE d.status = 'pending' AND d.lease_until IS NULL AND d.next_attempt_at <= ?"
                f"{skip} ORDER BY d.next_attempt_at LIMIT ?",
                (now, *skipped, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE deliveries SET attempts = attempts + 1, lease_until = ? WHERE id = ?",
                [(lease_until, row[0]) for row in rows],
            )
            return [
                DeliveryJob(row[0], row[1], row[2], row[3], row[4], row[5], row[6] + 1, row[7])
                for row in rows
            ]

        return await self.db.write(work)

    async def next_due_in_ms(self, *, skip_webhooks: Collection[str] = ()) -> int | None:
        skip, skipped = _not_in("webhook_id", skip_webhooks)
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT min(next_attempt_at) FROM deliveries"
                f" WHERE status = 'pending' AND lease_until IS NULL{skip}",
                skipped,
            ).fetchone()
        )
        return None if row[0] is None else max(int(row[0]) - now_ms(), 0)

    async def extend_leases(self, delivery_ids: list[str], lease_ms: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE deliveries SET lease_until = ? WHERE id = ? AND status = 'pending'"
                " AND lease_until IS NOT NULL",
                [(now_ms() + lease_ms, delivery_id) for delivery_id in delivery_ids],
            )

        await self.db.write(work)

    def listen_due(self, callback: Callable[[], None]) -> None:
        """Nothing to listen to: only this process writes the file, and it pokes directly."""

    async def release(self, delivery_ids: list[str]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE deliveries SET attempts = attempts - 1, lease_until = NULL,"
                " next_attempt_at = ? WHERE id = ? AND status = 'pending'"
                " AND lease_until IS NOT NULL",
                [(now, delivery_id) for delivery_id in delivery_ids],
            )

        now = now_ms()
        await self.db.write(work)

    async def record_outcomes(self, outcomes: list[RecordedOutcome]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            now = now_ms()
            conn.executemany(
                "INSERT OR REPLACE INTO attempts"
                " (delivery_id, number, started_at, duration_ms, status_code, error)"
                " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?)",
                [
                    (o.delivery_id, o.attempt, o.outcome.started_at, o.outcome.duration_ms,
                     o.outcome.status_code, o.outcome.error, o.delivery_id)
                    for o in outcomes
                ],
            )
            conn.executemany(
                "UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = NULL,"
                " delivered_at = ? WHERE id = ?",
                [
                    (o.status.value, None if o.retry_in_ms is None else now + o.retry_in_ms,
                     o.outcome.started_at + int(o.outcome.duration_ms)
                     if o.status is DeliveryStatus.DELIVERED else None,
                     o.delivery_id)
                    for o in outcomes
                ],
            )

        await self.db.write(work)

    async def recover_expired_leases(self, *, all_leases: bool = False) -> int:
        def work(conn: sqlite3.Connection) -> int:
            now = now_ms()
            condition = "" if all_leases else " AND lease_until < ?"
            params: tuple[object, ...] = () if all_leases else (now,)
            rows = conn.execute(
                "SELECT id, attempts FROM deliveries"
                f" WHERE status = 'pending' AND lease_until IS NOT NULL{condition}",
                params,
            ).fetchall()
            conn.executemany(
                "INSERT OR IGNORE INTO attempts (delivery_id, number, started_at, error)"
                " VALUES (?, ?, ?, ?)",
                [(id_, attempts, now, INTERRUPTED) for id_, attempts in rows if attempts > 0],
            )
            conn.executemany(
                "UPDATE deliveries SET lease_until = NULL, next_attempt_at = ? WHERE id = ?",
                [(now, id_) for id_, _ in rows],
            )
            return len(rows)

        return await self.db.write(work)


def _not_in(column: str, values: Collection[str]) -> tuple[str, tuple[str, ...]]:
    """An `AND column NOT IN (...)` clause and its parameters; nothing for no values."""
    if not values:
        return "", ()
    return f" AND {column} NOT IN ({','.join('?' * len(values))})", tuple(values)


def _ingest_one(
    conn: sqlite3.Connection,
    active: ActiveWebhooks,
    event: NewEvent,
    now: int,
    claim_until: int | None,
    only_webhook: str | None,
    defer_webhooks: Collection[str],
) -> list[DeliveryJob]:
    if only_webhook is None:
        targets: list[Any] = [
            row for row in active.of(conn, event.connection_id)
            if "*" in row[3] or event.event_type in row[3]
        ]
    else:
        targets = conn.execute(
            "SELECT id, url, signing_secret, events FROM webhooks WHERE id = ?", (only_webhook,)
        ).fetchall()
    if not targets:
        return []
    event_id = uuid7()
    conn.execute(
        "INSERT INTO events (id, connection_id, event_type, body, created_at) VALUES (?, ?, ?, ?, ?)",
        (event_id, event.connection_id, event.event_type, event.body, now),
    )
    jobs = [
        DeliveryJob(
            uuid7(), row[0], row[1], row[2], event.event_type, event.body,
            0 if claim_until is None or row[0] in defer_webhooks else 1, 0,
        )
        for row in targets
    ]
    conn.executemany(
        "INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts,"
        " next_attempt_at, lease_until, created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        [
            (job.delivery_id, job.webhook_id, event_id, event.event_type, job.attempt, now,
             claim_until if job.attempt else None, now)
            for job in jobs
        ],
    )
    return jobs
