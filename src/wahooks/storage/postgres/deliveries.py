"""The delivery log on PostgreSQL: deliveries with their attempts (assembled by
`wahooks.storage.rows.delivery_logs`), and redelivery."""

from __future__ import annotations

from typing import Any

from wahooks.models import DeliveryLog, DeliveryStatus
from wahooks.storage.postgres.database import DUE_CHANNEL, PostgresDatabase
from wahooks.storage.postgres.lines import lock_webhook_lines, rejoin
from wahooks.storage.postgres.sql import SQL
from wahooks.storage.records import QueueDepth
from wahooks.storage.rows import (
    ATTEMPT_COLUMNS,
    DELIVERY_COLUMNS,
    delivery_logs,
    queue_depth,
    status_class_condition,
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
        event_type: str | None = None,
        since: int | None = None,
        until: int | None = None,
        status_class: str | None = None,
    ) -> list[DeliveryLog]:
        by_class = "" if status_class is None else (
            " AND " + status_class_condition(status_class, "d.id")
        )

        async def work(c: Any) -> list[DeliveryLog]:
            rows = await c.fetch(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.webhook_id = $1 AND ($2::text IS NULL OR d.status = $2)"
                " AND ($3::uuid IS NULL OR d.id < $3) AND ($5::text IS NULL OR d.event_type = $5)"
                " AND ($6::bigint IS NULL OR d.created_at >= $6)"
                f" AND ($7::bigint IS NULL OR d.created_at < $7){by_class}"
                " ORDER BY d.id DESC LIMIT $4",
                webhook_id, None if status is None else status.value, before, limit,
                event_type, since, until,
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

    async def account_queue_depth(self, user_id: str) -> QueueDepth:
        async def work(c: Any) -> QueueDepth:
            oldest = await c.fetchval(SQL["account_oldest_due"], user_id)
            return queue_depth(await c.fetch(SQL["account_queue_depth"], user_id), oldest)

        return await self._db.run(work)

    async def redeliver(self, webhook_id: str, delivery_ids: list[str] | None) -> list[str]:
        async def work(c: Any) -> list[str]:
            await lock_webhook_lines(c, webhook_id)  # ordered ones rejoin their chats' lines
            if delivery_ids is None:
                rows = await c.fetch(SQL["redeliver_failed"], webhook_id)
            else:
                rows = await c.fetch(SQL["redeliver_some"], webhook_id, delivery_ids)
            if rows:
                await rejoin(c, webhook_id, rows)
                await c.execute(f"NOTIFY {DUE_CHANNEL}")
            return [str(row[0]) for row in rows]

        return await self._db.run(work, transaction=True)

    async def recover(
        self, webhook_id: str, since: int, until: int, max_count: int
    ) -> list[str] | None:
        async def work(c: Any) -> list[str] | None:
            await lock_webhook_lines(c, webhook_id)  # ordered ones rejoin their chats' lines
            rows = await c.fetch(SQL["recoverable"], webhook_id, since, until, max_count + 1)
            if len(rows) > max_count:
                return None
            ids = [row[0] for row in rows]
            if ids:
                await c.execute(SQL["recover_some"], ids, len(ids))
                await rejoin(c, webhook_id, rows)
                await c.execute(f"NOTIFY {DUE_CHANNEL}")
            return [str(id_) for id_ in ids]

        return await self._db.run(work, transaction=True)


async def _with_attempts(c: Any, rows: list[Any]) -> list[DeliveryLog]:
    if not rows:
        return []
    attempts = await c.fetch(
        f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = ANY($1::uuid[])"
        " ORDER BY delivery_id, number",
        [row[0] for row in rows],
    )
    return delivery_logs(rows, attempts)
