"""The SQLite writer's log under steady writes (storage/sqlite/database.py): checkpoints run beside
the writer, and a long log is started over, so it stays bounded however long the writes go on."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from wahooks.storage.sqlite.database import SqliteDatabase

ROW = b"x" * 2000  # half a page: each row dirties new pages
ROWS_PER_WRITE = 50
WRITES = 1200  # 60,000 rows, 120 MB through the log


def test_the_log_stays_bounded_under_writes_that_never_pause(tmp_path: Path) -> None:
    path = str(tmp_path / "wahooks.db")
    largest = 0

    def insert(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO filler (body) VALUES (?)", [(ROW,)] * ROWS_PER_WRITE)

    async def scenario() -> int:
        nonlocal largest
        db = SqliteDatabase(path, checkpoint_every=0.01, log_pages_to_restart=256)
        await db.start()
        try:
            await db.write(lambda conn: conn.execute("CREATE TABLE filler (body BLOB)"))
            for _ in range(WRITES // 4):
                # Four writes queued at once: the writer is never idle between them.
                await asyncio.gather(*(db.write(insert) for _ in range(4)))
                largest = max(largest, os.path.getsize(path + "-wal"))
            return await db.read(lambda conn: conn.execute("SELECT count(*) FROM filler").fetchone()[0])
        finally:
            await db.stop()

    assert asyncio.run(scenario()) == WRITES * ROWS_PER_WRITE
    written = WRITES * ROWS_PER_WRITE * len(ROW)
    # Without starting over, the log holds every page written (more than `written`).
    assert largest < written / 4, f"log grew to {largest} bytes of {written} written"
