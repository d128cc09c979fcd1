"""Retention on SQLite: the SQL of each step of `wahooks.storage.retention`, one write transaction
per step, and the deletion of deliveries that notes their events as orphan candidates."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from wahooks.clock import now_ms
from wahooks.models import DeliveryStatus
from wahooks.storage.records import PruneCounts
from wahooks.storage.retention import DEFAULT_HELD_KEPT, RetentionPolicy, prune_in_steps
from wahooks.storage.sqlite.database import SqliteDatabase
from wahooks.storage.sqlite.sql import SQL


class SqliteRetention:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def prune(
        self, *, delivered_max_age_ms: int, delivered_kept: int, dead_letters_kept: int,
        held_kept: int = DEFAULT_HELD_KEPT,
    ) -> PruneCounts:
        policy = RetentionPolicy(
            delivered_max_age_ms, delivered_kept, dead_letters_kept, held_kept
        )
        return await prune_in_steps(_SqlitePruneSteps(self.db), policy)


class _SqlitePruneSteps:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def delete_aged_delivered(self, max_age_ms: int, limit: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            aged = conn.execute(SQL["aged_delivered"], (now_ms() - max_age_ms, limit)).fetchall()
            return delete_deliveries(conn, aged)

        return await self.db.write(work)

    async def webhooks_after(self, after: str | None, limit: int) -> list[str]:
        # '' sorts before every id: no cursor means from the first webhook.
        rows = await self.db.read(
            lambda c: c.execute(SQL["webhooks_after"], (after or "", limit)).fetchall()
        )
        return [str(row[0]) for row in rows]

    async def trim(
        self, webhook_ids: list[str], kept: tuple[tuple[DeliveryStatus, int], ...]
    ) -> list[int]:
        def work(conn: sqlite3.Connection) -> list[int]:
            return [
                delete_deliveries(conn, [
                    row for id_ in webhook_ids
                    for row in conn.execute(SQL["beyond_newest"], (id_, status.value, keep))
                ])
                for status, keep in kept
            ]

        return await self.db.write(work)

    async def trim_held(self, webhook_ids: list[str], kept: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            deleted = 0
            for id_ in webhook_ids:
                doomed = conn.execute(
                    SQL["beyond_newest"], (id_, DeliveryStatus.HELD.value, kept)
                ).fetchall()
                if doomed:
                    deleted += delete_deliveries(conn, doomed)
                    conn.execute(SQL["add_held_dropped"], (len(doomed), id_))
            return deleted

        return await self.db.write(work)

    async def delete_orphan_events(self) -> int:
        return await self.db.write(delete_orphan_events)


def delete_deliveries(conn: sqlite3.Connection, doomed: list[Any]) -> int:
    """Delete these deliveries (rows of id, event_id) and their attempts; note their events."""
    if not doomed:
        return 0
    ids = orjson.dumps([row[0] for row in doomed]).decode()
    conn.execute(SQL["delete_attempts"], (ids,))
    conn.execute(SQL["delete_deliveries"], (ids,))
    conn.execute(SQL["note_orphan_candidates"], (orjson.dumps([row[1] for row in doomed]).decode(),))
    return len(doomed)


def delete_orphan_events(conn: sqlite3.Connection) -> int:
    removed = conn.execute(SQL["delete_orphan_events"]).rowcount
    conn.execute(SQL["forget_orphan_candidates"])
    return removed
