"""`wahooks db copy` leaves no orphan-candidate note behind: an event whose deliveries an
interrupted retention sweep deleted is deleted before the copy, not carried to PostgreSQL with
nothing left to sweep it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from wahooks.clock import now_ms
from wahooks.ids import uuid7
from wahooks.storage import PostgresStorage, SqliteStorage
from wahooks.storage.copy import copy_sqlite_to_postgres


def test_noted_orphan_events_are_swept_before_the_copy(
    tmp_path: Path, postgres_schema_url: Callable[[], str]
) -> None:
    path = str(tmp_path / "wahooks.db")
    orphan, kept = uuid7(), uuid7()

    async def history() -> None:
        store = SqliteStorage(path)
        await store.open()
        try:
            user = await store.accounts.create_user("alice", is_owner=True)

            def interrupted_sweep(conn: sqlite3.Connection) -> None:
                # Its deliveries were deleted and the event noted; the sweep stopped there. The
                # other event has no delivery either, but nobody noted it: not ours to judge.
                for event_id in (orphan, kept):
                    conn.execute(
                        "INSERT INTO events (id, connection_id, event_type, body, created_at)"
                        " VALUES (?, ?, 'message', x'7b7d', ?)", (event_id, user.id, now_ms())
                    )
                conn.execute("INSERT INTO orphan_candidates (event_id) VALUES (?)", (orphan,))

            await store.database.write(interrupted_sweep)
        finally:
            await store.close()

    async def copied_events(url: str) -> list[str]:
        counts = await copy_sqlite_to_postgres(path, url)
        store = PostgresStorage(url)
        await store.open()
        try:
            rows = await store.database.run(lambda c: c.fetch("SELECT id FROM events"))
            assert counts["events"] == len(rows)
            return [str(row[0]) for row in rows]
        finally:
            await store.close()

    asyncio.run(history())
    assert asyncio.run(copied_events(postgres_schema_url())) == [kept]
