"""The WAHA engine's tables: its sessions (which server runs each, and its webhook key) and the
event ids it has taken (replays; taken by ingest, in the transaction that stores the event, and
pruned here)."""

from __future__ import annotations

from wahooks.storage.postgres.database import (
    PostgresDatabase,
)
from wahooks.storage.postgres.sql import SQL
from wahooks.storage.records import (
    WahaSession,
)
from wahooks.storage.rows import (
    WAHA_SESSION_COLUMNS,
    waha_session_row,
)

PRUNE_SLICE = 10_000


class PostgresWahaSessions:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def save_waha_session(self, session: WahaSession) -> None:
        w = session
        await self._db.run(lambda c: c.execute(
            f"INSERT INTO waha_sessions ({WAHA_SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (session_name) DO UPDATE SET connection_id = excluded.connection_id,"
            " server_url = excluded.server_url, hmac_key = excluded.hmac_key,"
            " created_at = excluded.created_at",
            w.session_name, w.connection_id, w.server_url, w.hmac_key, w.created_at,
        ))

    async def get_waha_session(self, session_name: str) -> WahaSession | None:
        row = await self._db.run(lambda c: c.fetchrow(
            f"SELECT {WAHA_SESSION_COLUMNS} FROM waha_sessions WHERE session_name = $1",
            session_name,
        ))
        return None if row is None else waha_session_row(row)

    async def list_waha_sessions(self) -> list[WahaSession]:
        rows = await self._db.run(lambda c: c.fetch(
            f"SELECT {WAHA_SESSION_COLUMNS} FROM waha_sessions ORDER BY session_name"
        ))
        return [waha_session_row(row) for row in rows]

    async def delete_waha_session(self, session_name: str) -> None:
        await self._db.run(lambda c: c.execute(
            "DELETE FROM waha_sessions WHERE session_name = $1", session_name
        ))

    async def prune_waha_events(self, before: float) -> int:
        cutoff = int(before * 1000)
        removed = 0
        while True:
            gone = int(await self._db.run(
                lambda c: c.fetchval(SQL["prune_waha_events"], cutoff, PRUNE_SLICE)
            ))
            removed += gone
            if gone < PRUNE_SLICE:
                return removed
