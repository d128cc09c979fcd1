"""Retention on PostgreSQL: the SQL of each step of `wahooks.storage.retention`, each step in its
own short transaction on one connection that holds the pruning lock for the whole sweep; then the
coordination tables (workers, live fan-out) are pruned too.

Last, the sweep vacuums the tables with many dead rows (a large trim, or the old versions a drained
backlog's updates leave), so that their space is reused by new rows instead of the files growing:
PostgreSQL only reuses a dead row's space once VACUUM has seen it, and autovacuum may be off, or
wait for its threshold and its next round. Plain VACUUM (SKIP_LOCKED: a table autovacuum is busy
with is left to it) takes no lock that blocks reads or writes; it does not give the space back to
the operating system (VACUUM FULL would, locking the table), it makes it reusable."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from wahooks.models import DeliveryStatus
from wahooks.storage.postgres.database import CONNECTION_ERRORS, PRUNE_LOCK, PostgresDatabase
from wahooks.storage.postgres.sql import SQL
from wahooks.storage.records import PruneCounts
from wahooks.storage.retention import DEFAULT_HELD_KEPT, RetentionPolicy, prune_in_steps

log = logging.getLogger(__name__)

VACUUM_AFTER_DELETED = 10_000
"""Rows a sweep deleted past which it vacuums what it deleted from (without waiting for the
statistics to show their dead rows)."""

VACUUM_TIMEOUT_S = 3600.0
"""VACUUM reads the whole table: minutes for a very large one, past the pool's command timeout."""


class PostgresRetention:
    def __init__(
        self, db: PostgresDatabase, *, vacuum_after_deleted: int = VACUUM_AFTER_DELETED
    ) -> None:
        self._db = db
        self._vacuum_after_deleted = vacuum_after_deleted

    async def prune(
        self, *, delivered_max_age_ms: int, delivered_kept: int, dead_letters_kept: int,
        held_kept: int = DEFAULT_HELD_KEPT,
    ) -> PruneCounts:
        policy = RetentionPolicy(
            delivered_max_age_ms, delivered_kept, dead_letters_kept, held_kept
        )
        async with self._db.connection() as c:
            # One process prunes at a time; the others skip this round. A lost connection
            # takes the lock with it, and the pool unlocks whatever a released connection held.
            if not await c.fetchval(SQL["try_prune_lock"], PRUNE_LOCK):
                return PruneCounts(0, 0, 0)
            try:
                counts = await prune_in_steps(_PostgresPruneSteps(c), policy)
                await c.execute(SQL["prune_coordination"])
                deleted = counts.delivered + counts.dead_letters + counts.held + counts.events
                await vacuum_dead_rows(c, after_large_trim=deleted >= self._vacuum_after_deleted)
                return counts
            finally:
                with contextlib.suppress(*CONNECTION_ERRORS):  # a lost connection let go of it
                    await c.fetchval(SQL["prune_unlock"], PRUNE_LOCK)


class _PostgresPruneSteps:
    def __init__(self, c: Any) -> None:
        self._c = c

    async def delete_aged_delivered(self, max_age_ms: int, limit: int) -> int:
        return int(await self._c.fetchval(SQL["delete_aged_delivered"], max_age_ms, limit))

    async def webhooks_after(self, after: str | None, limit: int) -> list[str]:
        rows = await self._c.fetch(SQL["webhooks_after"], after, limit)
        return [str(row[0]) for row in rows]

    async def trim(
        self, webhook_ids: list[str], kept: tuple[tuple[DeliveryStatus, int], ...]
    ) -> list[int]:
        async with self._c.transaction():
            return [
                int(await self._c.fetchval(
                    SQL["delete_beyond_newest"], webhook_ids, status.value, keep
                ))
                for status, keep in kept
            ]

    async def trim_held(self, webhook_ids: list[str], kept: int) -> int:
        async with self._c.transaction():
            return int(await self._c.fetchval(SQL["trim_held"], webhook_ids, kept))

    async def delete_orphan_events(self) -> int:
        return await delete_orphan_events(self._c)


async def vacuum_dead_rows(c: Any, *, after_large_trim: bool) -> list[str]:
    """VACUUM the tables with many dead rows (outside any transaction, as VACUUM must be); the
    tables vacuumed."""
    tables = [str(row[0]) for row in await c.fetch(SQL["tables_to_vacuum"], after_large_trim)]
    if tables:
        started = time.monotonic()
        await c.execute(
            f"VACUUM (SKIP_LOCKED, ANALYZE) {', '.join(tables)}", timeout=VACUUM_TIMEOUT_S
        )
        log.info(
            "vacuumed after retention",
            extra={"action": "retention.vacuum", "tables": ",".join(tables),
                   "seconds": round(time.monotonic() - started, 2)},
        )
    return tables


async def delete_orphan_events(c: Any) -> int:
    """Delete the noted candidate events that no delivery refers to any more."""
    status: str = await c.execute(SQL["delete_orphan_events"])
    return int(status.rsplit(" ", 1)[-1])  # asyncpg's command status: "DELETE 3"
