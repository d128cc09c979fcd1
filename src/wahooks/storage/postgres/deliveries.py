"""The delivery log: deliveries with their attempts, and redelivery."""

from __future__ import annotations

from typing import Any

from wahooks.models import (
    Attempt,
    DeliveryLog,
    DeliveryStatus,
)
from wahooks.storage.postgres.database import (
    DUE_CHANNEL,
    PostgresDatabase,
)
from wahooks.storage.postgres.database import (
    NOW as _NOW,
)
from wahooks.storage.rows import (
    DELIVERY_COLUMNS,
)


class PostgresDeliveries:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def list_deliveries(
        self,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[DeliveryLog]:
        async def work(c: Any) -> list[DeliveryLog]:
            rows = await c.fetch(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.webhook_id = $1 AND ($2::text IS NULL OR d.status = $2)"
                " AND ($3::uuid IS NULL OR d.id < $3) ORDER BY d.id DESC LIMIT $4",
                webhook_id, None if status is None else status.value, before, limit,
            )
            return await _with_attempts(c, rows)

        return await self._db.run(work)

    async def get_delivery(self, delivery_id: str) -> DeliveryLog | None:
        async def work(c: Any) -> list[DeliveryLog]:
            rows = await c.fetch(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.id = $1",
                delivery_id,
            )
            return await _with_attempts(c, rows)

        found = await self._db.run(work)
        return found[0] if found else None

    async def redeliver(self, webhook_id: str, delivery_ids: list[str] | None) -> list[str]:
        async def work(c: Any) -> list[str]:
            if delivery_ids is None:
                rows = await c.fetch(
                    "UPDATE deliveries SET status = 'pending', cycle_start = attempts,"
                    f" next_attempt_at = {_NOW}, lease_until = NULL"
                    " WHERE webhook_id = $1 AND status = 'failed' RETURNING id",
                    webhook_id,
                )
            else:
                rows = await c.fetch(
                    "UPDATE deliveries SET status = 'pending', cycle_start = attempts,"
                    f" next_attempt_at = {_NOW}, lease_until = NULL, delivered_at = NULL"
                    " WHERE id = ANY($2::uuid[]) AND webhook_id = $1"
                    " AND status IN ('failed', 'delivered') RETURNING id",
                    webhook_id, delivery_ids,
                )
            if rows:
                await c.execute(f"NOTIFY {DUE_CHANNEL}")
            return [str(row[0]) for row in rows]

        return await self._db.run(work, transaction=True)


async def _with_attempts(c: Any, rows: list[Any]) -> list[DeliveryLog]:
    if not rows:
        return []
    by_delivery: dict[str, list[Attempt]] = {}
    for r in await c.fetch(
        "SELECT delivery_id, number, started_at, duration_ms, status_code, error FROM attempts"
        " WHERE delivery_id = ANY($1::uuid[]) ORDER BY delivery_id, number",
        [row[0] for row in rows],
    ):
        by_delivery.setdefault(str(r[0]), []).append(Attempt(r[1], r[2], r[3], r[4], r[5]))
    return [
        DeliveryLog(
            id=str(row[0]), webhook_id=str(row[1]), event_id=str(row[2]), event_type=row[3],
            body=bytes(row[4]), status=DeliveryStatus(row[5]), attempts=row[6],
            next_attempt_at=row[7], delivered_at=row[8], created_at=row[9],
            attempt_log=tuple(by_delivery.get(str(row[0]), ())),
        )
        for row in rows
    ]
