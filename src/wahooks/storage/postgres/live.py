"""Live events across API processes: who listens where, NOTIFY fan-out, a stash for large events."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from wahooks.storage.postgres.database import (
    LIVE_PRESENCE_CHANNEL,
    PostgresDatabase,
)
from wahooks.storage.postgres.database import (
    NOW as _NOW,
)


class PostgresLive:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    def listen(
        self,
        channel: str,
        callback: Callable[[str], None],
        *,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        """Call `callback(payload)` for every NOTIFY on `channel` (reconnecting as needed)."""
        self._db.listen(channel, callback, on_connect=on_connect)

    async def notify(self, channel: str, payload: str) -> None:
        await self._db.notify(channel, payload)

    async def announce_live_listeners(self, process_id: str, user_ids: Collection[str]) -> None:
        """This process has live subscribers for exactly these accounts (a heartbeat)."""
        async def work(c: Any) -> None:
            await c.execute("DELETE FROM live_listeners WHERE process_id = $1", process_id)
            if user_ids:
                await c.execute(
                    "INSERT INTO live_listeners (process_id, user_id, seen_at)"
                    f" SELECT $1, u, {_NOW} FROM unnest($2::uuid[]) AS u",
                    process_id, list(user_ids),
                )
            await c.execute(f"NOTIFY {LIVE_PRESENCE_CHANNEL}")

        await self._db.run(work, transaction=True)

    async def live_listener_accounts(self, except_process: str, within_ms: int) -> set[str]:
        """Accounts with live subscribers in other processes seen in the last `within_ms`."""
        rows = await self._db.run(lambda c: c.fetch(
            "SELECT DISTINCT user_id FROM live_listeners WHERE process_id <> $1"
            f" AND seen_at > {_NOW} - $2",
            except_process, within_ms,
        ))
        return {str(row[0]) for row in rows}

    async def stash_live_event(self, body: bytes) -> int:
        """Keep an event too large for a NOTIFY payload for a minute; its id goes instead."""
        return int(await self._db.run(lambda c: c.fetchval(
            f"INSERT INTO live_events (body, created_at) VALUES ($1, {_NOW}) RETURNING id", body
        )))

    async def stashed_live_event(self, stash_id: int) -> bytes | None:
        value = await self._db.run(lambda c: c.fetchval(
            "SELECT body FROM live_events WHERE id = $1", stash_id
        ))
        return None if value is None else bytes(value)


