"""The delivery log on SQLite: deliveries with their attempts (assembled by
`wahooks.storage.rows.delivery_logs`), and redelivery."""

from __future__ import annotations

import sqlite3
from typing import Any

from wahooks.clock import now_ms
from wahooks.models import DeliveryLog, DeliveryStatus
from wahooks.storage.records import QueueDepth
from wahooks.storage.rows import (
    ATTEMPT_COLUMNS,
    DELIVERY_COLUMNS,
    delivery_logs,
    queue_depth,
    status_class_condition,
)
from wahooks.storage.sqlite.database import SqliteDatabase
from wahooks.storage.sqlite.lines import rejoin
from wahooks.storage.sqlite.sql import SQL


class SqliteDeliveries:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def list_deliveries(
        self,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 100,
        before: str | None = None,
        event_type: str | None = None,
        since: int | None = None,
        until: int | None = None,
        status_class: str | None = None,
    ) -> list[DeliveryLog]:
        where: list[str] = ["d.webhook_id = ?"]
        params: list[Any] = [webhook_id]
        if status is not None:
            where.append("d.status = ?")
            params.append(status.value)
        if before is not None:
            where.append("d.id < ?")
            params.append(before)
        if event_type is not None:
            where.append("d.event_type = ?")
            params.append(event_type)
        if since is not None:
            where.append("d.created_at >= ?")
            params.append(since)
        if until is not None:
            where.append("d.created_at < ?")
            params.append(until)
        if status_class is not None:
            where.append(status_class_condition(status_class, "d.id"))

        def work(conn: sqlite3.Connection) -> list[DeliveryLog]:
            rows = conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                f" WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
            return _with_attempts(conn, rows)

        return await self.db.read(work)

    async def get_delivery(self, delivery_id: str) -> DeliveryLog | None:
        def work(conn: sqlite3.Connection) -> list[DeliveryLog]:
            rows = conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.id = ?",
                (delivery_id,),
            ).fetchall()
            return _with_attempts(conn, rows)

        found = await self.db.read(work)
        return found[0] if found else None

    async def account_queue_depth(self, user_id: str) -> QueueDepth:
        def work(conn: sqlite3.Connection) -> QueueDepth:
            now = now_ms()
            (oldest,) = conn.execute(SQL["account_oldest_due"], (user_id, now)).fetchone()
            rows = conn.execute(SQL["account_queue_depth"], (user_id,)).fetchall()
            return queue_depth(rows, None if oldest is None else now - oldest)

        return await self.db.read(work)

    async def redeliver(self, webhook_id: str, delivery_ids: list[str] | None) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            now = now_ms()
            if delivery_ids is None:
                rows = conn.execute(SQL["redeliver_failed"], (now, webhook_id)).fetchall()
            else:
                rows = [
                    row for id_ in delivery_ids
                    for row in conn.execute(SQL["redeliver_one"], (now, id_, webhook_id))
                ]
            rejoin(conn, webhook_id, rows, now)
            return [row[0] for row in rows]

        return await self.db.write(work)

    async def recover(
        self, webhook_id: str, since: int, until: int, max_count: int
    ) -> list[str] | None:
        def work(conn: sqlite3.Connection) -> list[str] | None:
            rows = conn.execute(
                SQL["recoverable"], (webhook_id, since, until, max_count + 1)
            ).fetchall()
            if len(rows) > max_count:
                return None
            now = now_ms()
            first = now - len(rows)
            conn.executemany(
                SQL["recover_one"], [(first + rank, row[0]) for rank, row in enumerate(rows)]
            )
            rejoin(conn, webhook_id, rows, now)
            return [row[0] for row in rows]

        return await self.db.write(work)


def _with_attempts(conn: sqlite3.Connection, rows: list[Any]) -> list[DeliveryLog]:
    if not rows:
        return []
    marks = ",".join("?" * len(rows))
    attempts = conn.execute(
        f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id IN ({marks})"
        " ORDER BY delivery_id, number",
        [row[0] for row in rows],
    ).fetchall()
    return delivery_logs(rows, attempts)
