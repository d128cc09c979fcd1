"""Process coordination: advisory locks for one-at-a-time jobs, worker heartbeats."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from wahooks.storage.postgres.database import (
    CONNECTION_ERRORS,
    PostgresDatabase,
)
from wahooks.storage.postgres.database import (
    NOW as _NOW,
)
from wahooks.storage.records import WorkerBeat


class PostgresProcesses:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        assert self._db.pool is not None, "store not open"
        try:
            conn = await self._db.session()
        except CONNECTION_ERRORS:
            yield False
            return
        try:
            held = bool(await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtext('wahooks:' || $1))", name
            ))
            try:
                yield held
            finally:
                if held:
                    with contextlib.suppress(*CONNECTION_ERRORS):
                        await conn.execute(
                            "SELECT pg_advisory_unlock(hashtext('wahooks:' || $1))", name
                        )
        finally:
            await self._db.pool.release(conn)

    async def heartbeat(self, worker_id: str) -> None:
        await self._db.run(lambda c: c.execute(
            f"INSERT INTO workers (id, started_at, seen_at) VALUES ($1, {_NOW}, {_NOW})"
            f" ON CONFLICT (id) DO UPDATE SET seen_at = {_NOW}",
            worker_id,
        ))

    async def live_workers(self, within_ms: int) -> int:
        count = await self._db.run(lambda c: c.fetchval(
            f"SELECT count(*) FROM workers WHERE seen_at > {_NOW} - $1", within_ms
        ))
        return int(count)

    async def worker_beats(self, within_ms: int) -> list[WorkerBeat]:
        """The workers that sent a heartbeat within `within_ms`, by id."""
        rows = await self._db.run(lambda c: c.fetch(
            f"SELECT id, started_at, seen_at FROM workers WHERE seen_at > {_NOW} - $1"
            " ORDER BY id", within_ms,
        ))
        return [WorkerBeat(str(id_), int(started), int(seen)) for id_, started, seen in rows]


