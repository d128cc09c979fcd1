"""What retention deletes, and in what order, written once for both backends; each backend only
supplies the SQL of each step (`PruneSteps`) and runs every step in a short transaction of its own,
so a sweep never holds the database (SQLite's single writer, with it every ingest) for long.

The rules:
* delivered deliveries older than the maximum age go, oldest first, a bounded batch at a time;
* per webhook, only the newest N delivered and the newest M failed (dead letters) are kept; the
  webhooks are visited in slices, by id;
* per webhook, only the newest K held deliveries are kept (the held cap, its own setting: the
  dead-letter cap never touches them); each webhook counts the ones it lost (`held_dropped`);
* an event goes once no delivery refers to it. The steps that delete deliveries note their events as
  orphan candidates, and the last step looks at those few instead of scanning every event.
Pending deliveries are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wahooks.models import DeliveryStatus
from wahooks.storage.records import PruneCounts

AGED_BATCH = 1000
"""Aged deliveries deleted per transaction."""

WEBHOOK_SLICE = 50
"""Webhooks trimmed per transaction."""

DEFAULT_HELD_KEPT = 10_000
"""WAHOOKS_HELD_MAX's default (config.py says why)."""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    delivered_max_age_ms: int
    delivered_kept: int
    dead_letters_kept: int
    held_kept: int = DEFAULT_HELD_KEPT

    def kept_per_status(self) -> tuple[tuple[DeliveryStatus, int], ...]:
        """How many of each webhook's newest deliveries each settled status keeps."""
        return (
            (DeliveryStatus.DELIVERED, self.delivered_kept),
            (DeliveryStatus.FAILED, self.dead_letters_kept),
        )


class PruneSteps(Protocol):
    """One backend's SQL for each step; each call is one transaction."""

    async def delete_aged_delivered(self, max_age_ms: int, limit: int) -> int:
        """Delete up to `limit` of the oldest delivered deliveries older than `max_age_ms`."""
        ...

    async def webhooks_after(self, after: str | None, limit: int) -> list[str]:
        """The next `limit` webhook ids after `after` (None: from the first), in id order."""
        ...

    async def trim(
        self, webhook_ids: list[str], kept: tuple[tuple[DeliveryStatus, int], ...]
    ) -> list[int]:
        """For each (status, N) in `kept`, delete all but each webhook's newest N in that status;
        the number deleted per entry."""
        ...

    async def trim_held(self, webhook_ids: list[str], kept: int) -> int:
        """Delete all but each webhook's newest `kept` held deliveries, adding what each lost to
        its `held_dropped`; the number deleted."""
        ...

    async def delete_orphan_events(self) -> int:
        """Delete the noted candidate events no delivery refers to any more; forget the notes."""
        ...


async def prune_in_steps(steps: PruneSteps, policy: RetentionPolicy) -> PruneCounts:
    delivered = await _delete_aged(steps, policy.delivered_max_age_ms)
    dead_letters = held = 0
    after: str | None = None
    while webhook_ids := await steps.webhooks_after(after, WEBHOOK_SLICE):
        trimmed_delivered, trimmed_dead = await steps.trim(webhook_ids, policy.kept_per_status())
        delivered += trimmed_delivered
        dead_letters += trimmed_dead
        held += await steps.trim_held(webhook_ids, policy.held_kept)
        after = webhook_ids[-1]
    return PruneCounts(delivered, dead_letters, await steps.delete_orphan_events(), held)


async def _delete_aged(steps: PruneSteps, max_age_ms: int) -> int:
    deleted = 0
    while True:
        batch = await steps.delete_aged_delivered(max_age_ms, AGED_BATCH)
        deleted += batch
        if batch < AGED_BATCH:
            return deleted
