"""Process coordination: with one process on the file, there is nothing to coordinate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from wahooks.storage.records import WorkerBeat


class SqliteProcesses:

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        yield True  # one process owns the file

    async def heartbeat(self, worker_id: str) -> None:
        """One process: its dispatcher is the only worker, and it knows whether it runs."""

    async def live_workers(self, within_ms: int) -> int:
        return 0

    async def worker_beats(self, within_ms: int) -> list[WorkerBeat]:
        return []  # no heartbeats: the serving process is the worker, and shows itself


