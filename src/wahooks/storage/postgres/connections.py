"""Connections: linked WhatsApp numbers."""

from __future__ import annotations

from wahooks.errors import NotFound
from wahooks.models import (
    Connection,
    ConnectionStatus,
)
from wahooks.storage.postgres.database import (
    NOW as _NOW,
)
from wahooks.storage.postgres.database import (
    PostgresDatabase,
)
from wahooks.storage.rows import (
    CONNECTION_COLUMNS,
    connection_row,
)


class PostgresConnections:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_connection(self, connection: Connection) -> None:
        c = connection
        await self._db.run(lambda conn: conn.execute(
            f"INSERT INTO connections ({CONNECTION_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            c.id, c.user_id, c.name, c.session_name, c.phone_number, c.status.value, c.engine,
            c.created_at, c.updated_at,
        ))

    async def get_connection(self, connection_id: str) -> Connection | None:
        row = await self._db.run(lambda c: c.fetchrow(
            f"SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1", connection_id
        ))
        return None if row is None else connection_row(row)

    async def find_connection_by_session(self, session_name: str) -> Connection | None:
        row = await self._db.run(lambda c: c.fetchrow(
            f"SELECT {CONNECTION_COLUMNS} FROM connections WHERE session_name = $1", session_name
        ))
        return None if row is None else connection_row(row)

    async def list_connections(
        self, user_id: str | None = None, *, include_stopped: bool = False
    ) -> list[Connection]:
        where, params = ["true"], []
        if user_id is not None:
            params.append(user_id)
            where.append(f"user_id = ${len(params)}")
        if not include_stopped:
            where.append("status <> 'stopped'")
        rows = await self._db.run(lambda c: c.fetch(
            f"SELECT {CONNECTION_COLUMNS} FROM connections WHERE {' AND '.join(where)}"
            " ORDER BY id DESC",
            *params,
        ))
        return [connection_row(row) for row in rows]

    async def rename_connection(self, connection_id: str, name: str | None) -> Connection:
        return await self._update_connection(connection_id, "name = $2", name)

    async def set_connection_status(
        self, connection_id: str, status: ConnectionStatus, *, phone_number: str | None = None
    ) -> Connection:
        if phone_number is None:
            return await self._update_connection(connection_id, "status = $2", status.value)
        return await self._update_connection(
            connection_id, "status = $2, phone_number = $3", status.value, phone_number
        )

    async def _update_connection(
        self, connection_id: str, assignments: str, *values: object
    ) -> Connection:
        row = await self._db.run(lambda c: c.fetchrow(
            f"UPDATE connections SET {assignments}, updated_at = {_NOW} WHERE id = $1"
            f" RETURNING {CONNECTION_COLUMNS}",
            connection_id, *values,
        ))
        if row is None:
            raise NotFound("Connection not found")
        return connection_row(row)


