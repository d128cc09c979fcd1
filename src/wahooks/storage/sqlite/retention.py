"""Retention: delivered rows age out, dead letters are capped per webhook, orphan events go."""

from __future__ import annotations

import sqlite3

from wahooks.clock import now_ms
from wahooks.storage.records import (
    PruneCounts,
)
from wahooks.storage.sqlite.database import SqliteDatabase

PRUNE_SLICE = 50


class SqliteRetention:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def prune(
        self, *, delivered_max_age_ms: int, delivered_kept: int, dead_letters_kept: int
    ) -> PruneCounts:
        # In short write transactions (a slice of webhooks each), so that a large sweep never
        # holds the single writer, and with it every ingest, for long.
        def aged(conn: sqlite3.Connection) -> int:
            return delete_deliveries(
                conn, "status = 'delivered' AND delivered_at < ?",
                (now_ms() - delivered_max_age_ms,),
            )

        delivered = await self.db.write(aged)
        webhook_ids = await self.db.read(
            lambda c: [row[0] for row in c.execute("SELECT id FROM webhooks ORDER BY id")]
        )
        dead = 0
        for start in range(0, len(webhook_ids), PRUNE_SLICE):
            chunk = webhook_ids[start:start + PRUNE_SLICE]

            def trim(conn: sqlite3.Connection, chunk: list[str] = chunk) -> tuple[int, int]:
                return (
                    sum(trim_webhook(conn, id_, "delivered", delivered_kept) for id_ in chunk),
                    sum(trim_webhook(conn, id_, "failed", dead_letters_kept) for id_ in chunk),
                )

            trimmed, trimmed_dead = await self.db.write(trim)
            delivered += trimmed
            dead += trimmed_dead
        return PruneCounts(delivered, dead, await self.db.write(delete_orphan_events))


def delete_deliveries(conn: sqlite3.Connection, condition: str, params: tuple[object, ...]) -> int:
    conn.execute(
        f"DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE {condition})",
        params,
    )
    gone = conn.execute(
        f"DELETE FROM deliveries WHERE {condition} RETURNING event_id", params
    ).fetchall()
    # Their events may now have no delivery left: remember them for the orphan sweep, which
    # then looks at these few instead of scanning every event.
    conn.executemany(
        "INSERT OR IGNORE INTO orphan_candidates (event_id) VALUES (?)", gone
    )
    return len(gone)

def trim_webhook(conn: sqlite3.Connection, webhook_id: str, status: str, keep: int) -> int:
    """Delete all but the newest `keep` deliveries of one webhook in one status."""
    if keep <= 0:
        return delete_deliveries(conn, "webhook_id = ? AND status = ?", (webhook_id, status))
    # The id of the keep-th newest row; everything older goes. Fewer rows than `keep`: NULL,
    # coalesced to '' which no id sorts below, so nothing is deleted.
    return delete_deliveries(
        conn,
        "webhook_id = ? AND status = ? AND id < coalesce((SELECT id FROM deliveries"
        " WHERE webhook_id = ? AND status = ? ORDER BY id DESC LIMIT 1 OFFSET ?), '')",
        (webhook_id, status, webhook_id, status, keep - 1),
    )

def delete_orphan_events(conn: sqlite3.Connection) -> int:
    removed = conn.execute(
        "DELETE FROM events WHERE id IN (SELECT event_id FROM orphan_candidates)"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)"
    ).rowcount
    conn.execute("DELETE FROM orphan_candidates")
    return removed
