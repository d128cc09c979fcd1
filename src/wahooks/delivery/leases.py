"""Lease upkeep, when other processes share the queue (PostgreSQL).

A claimed delivery carries a lease: while it runs, no other process claims it. The holder renews the
leases of everything it holds (waiting in memory or on the wire) well before they run out, and says
it is alive; a process that dies stops renewing, its leases run out, and any live process takes
those deliveries back. With one process on the database (SQLite) nothing else could take them, and
the leases are recovered at start-up instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0


class Heartbeats(Protocol):
    async def heartbeat(self, worker_id: str) -> None: ...


class LeaseStore(Protocol):
    async def extend_leases(self, delivery_ids: list[str], lease_ms: int) -> None: ...
    async def recover_expired_leases(self, *, all_leases: bool = False) -> int: ...


class LeaseUpkeep:
    def __init__(
        self,
        store: LeaseStore,
        heartbeats: Heartbeats,
        *,
        worker_id: str,
        lease_ms: int,
        held: Callable[[], list[str]],
        on_recovered: Callable[[], None],
    ) -> None:
        self._store = store
        self._heartbeats = heartbeats
        self._worker_id = worker_id
        self._lease_ms = lease_ms
        self._held = held
        self._on_recovered = on_recovered

    @property
    def interval(self) -> float:
        """A third of a lease, so two renewals can fail before one runs out."""
        return min(self._lease_ms / 3000, HEARTBEAT_SECONDS)

    async def run(self) -> None:
        """Renew, recover and say alive, every `interval` seconds, until cancelled."""
        while True:
            try:
                await self.renew_once()
            except Exception:
                log.exception("lease upkeep failed", extra={"action": "delivery.leases"})
            await asyncio.sleep(self.interval)

    async def renew_once(self) -> None:
        await self._heartbeats.heartbeat(self._worker_id)
        held = self._held()
        if held:
            await self._store.extend_leases(held, self._lease_ms)
        if await self._store.recover_expired_leases():
            self._on_recovered()
