"""Retention: delivered rows age out, dead letters are capped per webhook, orphan events go."""

from __future__ import annotations

from typing import Any

from wahooks.storage.postgres.database import (
    NOW as _NOW,
)
from wahooks.storage.postgres.database import (
    PRUNE_LOCK as _PRUNE_LOCK,
)
from wahooks.storage.postgres.database import (
    PostgresDatabase,
)
from wahooks.storage.records import (
    PruneCounts,
)


class PostgresRetention:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def prune(
        self, *, delivered_max_age_ms: int, delivered_kept: int, dead_letters_kept: int
    ) -> PruneCounts:
        async def work(c: Any) -> PruneCounts:
            # One process prunes at a time; the others skip this round.
            if not await c.fetchval("SELECT pg_try_advisory_xact_lock($1)", _PRUNE_LOCK):
                return PruneCounts(0, 0, 0)
            delivered = await _delete_deliveries(
                c, f"status = 'delivered' AND delivered_at < {_NOW} - $1", delivered_max_age_ms
            )
            dead = 0
            for row in await c.fetch("SELECT id FROM webhooks"):
                delivered += await _trim(c, row[0], "delivered", delivered_kept)
                dead += await _trim(c, row[0], "failed", dead_letters_kept)
            events = _count(await c.execute(DELETE_ORPHAN_EVENTS))
            await c.execute(f"DELETE FROM workers WHERE seen_at < {_NOW} - 86400000")
            await c.execute(f"DELETE FROM live_events WHERE created_at < {_NOW} - 60000")
            await c.execute(f"DELETE FROM live_listeners WHERE seen_at < {_NOW} - 600000")
            return PruneCounts(delivered, dead, events)

        return await self._db.run(work, transaction=True)


DELETE_ORPHAN_EVENTS = (
    "DELETE FROM events e WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)"
)

def _count(status: str) -> int:
    """Rows affected, from asyncpg's command status ("DELETE 3")."""
    return int(status.rsplit(" ", 1)[-1])

async def _delete_deliveries(c: Any, condition: str, *params: object) -> int:
    await c.execute(
        f"DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE {condition})",
        *params,
    )
    return _count(await c.execute(f"DELETE FROM deliveries WHERE {condition}", *params))

async def _trim(c: Any, webhook_id: Any, status: str, keep: int) -> int:
    """Delete all but the newest `keep` deliveries of one webhook in one status."""
    if keep <= 0:
        return await _delete_deliveries(c, "webhook_id = $1 AND status = $2", webhook_id, status)
    return await _delete_deliveries(
        c,
        "webhook_id = $1 AND status = $2 AND id < (SELECT id FROM deliveries"
        " WHERE webhook_id = $1 AND status = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)",
        webhook_id, status, keep - 1,
    )
