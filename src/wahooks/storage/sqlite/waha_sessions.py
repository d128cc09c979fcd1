"""The WAHA engine's tables: its sessions (which server runs each, and its webhook key) and the
event ids it has taken (replays; taken by ingest, in the transaction that stores the event, and
pruned here)."""

from __future__ import annotations

from wahooks.storage.records import (
    WahaSession,
)
from wahooks.storage.rows import (
    WAHA_SESSION_COLUMNS,
    waha_session_row,
)
from wahooks.storage.sqlite.database import SqliteDatabase
from wahooks.storage.sqlite.sql import SQL

PRUNE_SLICE = 10_000


class SqliteWahaSessions:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def save_waha_session(self, session: WahaSession) -> None:
        w = session
        await self.db.write(
            lambda c: c.execute(
                f"INSERT OR REPLACE INTO waha_sessions ({WAHA_SESSION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?)",
                (w.session_name, w.connection_id, w.server_url, w.hmac_key, w.created_at),
            )
        )

    async def get_waha_session(self, session_name: str) -> WahaSession | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {WAHA_SESSION_COLUMNS} FROM waha_sessions WHERE session_name = ?",
                (session_name,),
            ).fetchone()
        )
        return None if row is None else waha_session_row(row)

    async def list_waha_sessions(self) -> list[WahaSession]:
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT {WAHA_SESSION_COLUMNS} FROM waha_sessions ORDER BY session_name"
            ).fetchall()
        )
        return [waha_session_row(row) for row in rows]

    async def delete_waha_session(self, session_name: str) -> None:
        await self.db.write(
            lambda c: c.execute("DELETE FROM waha_sessions WHERE session_name = ?", (session_name,))
        )

    async def prune_waha_events(self, before: float) -> int:
        cutoff = int(before * 1000)
        removed = 0
        while True:
            gone = await self.db.write(
                lambda c: c.execute(SQL["prune_waha_events"], (cutoff, PRUNE_SLICE)).rowcount
            )
            removed += gone
            if gone < PRUNE_SLICE:
                return removed
