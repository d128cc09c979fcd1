"""Connections: linked WhatsApp numbers."""

from __future__ import annotations

import sqlite3

from wahooks.clock import now_ms
from wahooks.errors import NotFound
from wahooks.models import (
    Connection,
    ConnectionStatus,
)
from wahooks.storage.rows import (
    CONNECTION_COLUMNS,
    connection_row,
)
from wahooks.storage.sqlite.database import SqliteDatabase


class SqliteConnections:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def create_connection(self, connection: Connection) -> None:
        c = connection

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO connections ({CONNECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (c.id, c.user_id, c.name, c.session_name, c.phone_number, c.status.value,
                 c.engine, c.created_at, c.updated_at),
            )

        await self.db.write(work)

    async def get_connection(self, connection_id: str) -> Connection | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?", (connection_id,)
            ).fetchone()
        )
        return None if row is None else connection_row(row)

    async def find_connection_by_session(self, session_name: str) -> Connection | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {CONNECTION_COLUMNS} FROM connections WHERE session_name = ?",
                (session_name,),
            ).fetchone()
        )
        return None if row is None else connection_row(row)

    async def list_connections(
        self, user_id: str | None = None, *, include_stopped: bool = False
    ) -> list[Connection]:
        where, params = [], []
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        if not include_stopped:
            where.append("status != 'stopped'")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT {CONNECTION_COLUMNS} FROM connections{clause} ORDER BY id DESC", params
            ).fetchall()
        )
        return [connection_row(row) for row in rows]

    async def rename_connection(self, connection_id: str, name: str | None) -> Connection:
        return await self._update_connection(connection_id, "name = ?", (name,))

    async def set_connection_status(
        self, connection_id: str, status: ConnectionStatus, *, phone_number: str | None = None
    ) -> Connection:
        if phone_number is None:
            return await self._update_connection(connection_id, "status = ?", (status.value,))
        return await self._update_connection(
            connection_id, "status = ?, phone_number = ?", (status.value, phone_number)
        )

    async def _update_connection(
        self, connection_id: str, assignments: str, values: tuple[object, ...]
    ) -> Connection:
        def work(conn: sqlite3.Connection) -> Connection:
            row = conn.execute(
                f"UPDATE connections SET {assignments}, updated_at = ? WHERE id = ?"
                f" RETURNING {CONNECTION_COLUMNS}",
                (*values, now_ms(), connection_id),
            ).fetchone()
            if row is None:
                raise NotFound("Connection not found")
            return connection_row(row)

        return await self.db.write(work)


