"""Retention: delivered log rows age out, dead letters and held deliveries are capped per webhook
(each by its own cap), so the database does not grow without bound. Pending deliveries are never
touched."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from wahooks.storage.records import PruneCounts

log = logging.getLogger(__name__)


class RetentionStore(Protocol):
    async def prune(
        self, *, delivered_max_age_ms: int, delivered_kept: int, dead_letters_kept: int,
        held_kept: int,
    ) -> PruneCounts: ...


class Retention:
    def __init__(
        self,
        store: RetentionStore,
        *,
        interval: float,
        delivered_max_age: float,
        delivered_kept: int,
        dead_letters_kept: int,
        held_kept: int,
    ) -> None:
        self._store = store
        self._interval = interval
        self._delivered_max_age_ms = int(delivered_max_age * 1000)
        self._delivered_kept = delivered_kept
        self._dead_letters_kept = dead_letters_kept
        self._held_kept = held_kept
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> PruneCounts:
        counts = await self._store.prune(
            delivered_max_age_ms=self._delivered_max_age_ms,
            delivered_kept=self._delivered_kept,
            dead_letters_kept=self._dead_letters_kept,
            held_kept=self._held_kept,
        )
        if counts.held:
            log.warning(
                "held deliveries beyond the held cap dropped",
                extra={"action": "retention.held_dropped", "held": counts.held},
            )
        if counts.delivered or counts.dead_letters:
            log.info(
                "retention sweep",
                extra={"action": "retention.sweep", "delivered": counts.delivered,
                       "dead_letters": counts.dead_letters, "events": counts.events},
            )
        return counts

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wahooks-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("retention sweep failed", extra={"action": "retention.sweep"})
