"""The delivery log: deliveries with their attempts, and redelivery."""

from __future__ import annotations

import sqlite3
from typing import Any

from wahooks.clock import now_ms
from wahooks.models import (
    Attempt,
    DeliveryLog,
    DeliveryStatus,
)
from wahooks.storage.rows import (
    DELIVERY_COLUMNS,
)
from wahooks.storage.sqlite.database import SqliteDatabase


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
    ) -> list[DeliveryLog]:
        where, params = ["d.webhook_id = ?"], [webhook_id]
        if status is not None:
            where.append("d.status = ?")
            params.append(status.value)
        if before is not None:
            where.append("d.id < ?")
            params.append(before)

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

    async def redeliver(self, webhook_id: str, delivery_ids: list[str] | None) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            now = now_ms()
            if delivery_ids is None:
                rows = conn.execute(
                    "UPDATE deliveries SET status = 'pending', cycle_start = attempts,"
                    " next_attempt_at = ?, lease_until = NULL"
                    " WHERE webhook_id = ? AND status = 'failed' RETURNING id",
                    (now, webhook_id),
                ).fetchall()
            else:
                rows = []
                for delivery_id in delivery_ids:
                    rows += conn.execute(
                        "UPDATE deliveries SET status = 'pending', cycle_start = attempts,"
                        " next_attempt_at = ?, lease_until = NULL, delivered_at = NULL"
                        " WHERE id = ? AND webhook_id = ? AND status IN ('failed', 'delivered')"
                        " RETURNING id",
                        (now, delivery_id, webhook_id),
                    ).fetchall()
            return [row[0] for row in rows]

        return await self.db.write(work)


def _with_attempts(conn: sqlite3.Connection, rows: list[Any]) -> list[DeliveryLog]:
    if not rows:
        return []
    ids = [row[0] for row in rows]
    marks = ",".join("?" * len(ids))
    by_delivery: dict[object, list[Attempt]] = {}
    for delivery_id, number, started_at, duration_ms, status_code, error in conn.execute(
        "SELECT delivery_id, number, started_at, duration_ms, status_code, error FROM attempts"
        f" WHERE delivery_id IN ({marks}) ORDER BY delivery_id, number",
        ids,
    ):
        by_delivery.setdefault(delivery_id, []).append(
            Attempt(number, started_at, duration_ms, status_code, error)
        )
    return [
        DeliveryLog(
            id=str(row[0]), webhook_id=str(row[1]), event_id=str(row[2]), event_type=str(row[3]),
            body=bytes(row[4]),
            status=DeliveryStatus(row[5]), attempts=int(row[6]),
            next_attempt_at=None if row[7] is None else int(row[7]),
            delivered_at=None if row[8] is None else int(row[8]),
            created_at=int(row[9]),
            attempt_log=tuple(by_delivery.get(row[0], ())),
        )
        for row in rows
    ]
