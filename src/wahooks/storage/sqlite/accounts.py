"""Accounts and their API tokens."""

from __future__ import annotations

import sqlite3

from wahooks.clock import now_ms
from wahooks.ids import uuid7
from wahooks.models import (
    ApiToken,
    User,
)
from wahooks.storage.rows import (
    TOKEN_COLUMNS,
    token_row,
    user_row,
)
from wahooks.storage.sqlite.database import SqliteDatabase


class SqliteAccounts:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def create_user(self, name: str, *, is_owner: bool) -> User:
        user = User(uuid7(), name, is_owner, now_ms())

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO users (id, name, is_owner, created_at) VALUES (?, ?, ?, ?)",
                (user.id, user.name, int(user.is_owner), user.created_at),
            )

        await self.db.write(work)
        return user

    async def get_user(self, user_id: str) -> User | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT id, name, is_owner, created_at FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        )
        return None if row is None else user_row(row)

    async def owner(self) -> User | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT id, name, is_owner, created_at FROM users WHERE is_owner = 1"
                " ORDER BY id LIMIT 1"
            ).fetchone()
        )
        return None if row is None else user_row(row)

    async def user_named(self, name: str) -> User | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT id, name, is_owner, created_at FROM users WHERE name = ?"
                " ORDER BY id LIMIT 1", (name,)
            ).fetchone()
        )
        return None if row is None else user_row(row)

    async def create_first_owner(self, name: str) -> User | None:
        user = User(uuid7(), name, True, now_ms())

        def work(conn: sqlite3.Connection) -> bool:
            inserted = conn.execute(
                "INSERT INTO users (id, name, is_owner, created_at) VALUES (?, ?, 1, ?)"
                " ON CONFLICT (is_owner) WHERE is_owner = 1 DO NOTHING",
                (user.id, user.name, user.created_at),
            ).rowcount
            return bool(inserted)

        return user if await self.db.write(work) else None

    async def create_token(
        self, user_id: str, name: str, token_hash: str, token_prefix: str
    ) -> ApiToken:
        token = ApiToken(uuid7(), user_id, name, token_prefix, True, None, now_ms())

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO api_tokens (id, user_id, name, token_hash, token_prefix, active,"
                " created_at) VALUES (?, ?, ?, ?, ?, 1, ?)",
                (token.id, user_id, name, token_hash, token_prefix, token.created_at),
            )

        await self.db.write(work)
        return token

    async def list_tokens(self, user_id: str) -> list[ApiToken]:
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = ? AND active = 1"
                " ORDER BY id DESC",
                (user_id,),
            ).fetchall()
        )
        return [token_row(row) for row in rows]

    async def get_token(self, token_id: str) -> ApiToken | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,)
            ).fetchone()
        )
        return None if row is None else token_row(row)

    async def revoke_token(self, token_id: str) -> None:
        await self.db.write(
            lambda c: c.execute("UPDATE api_tokens SET active = 0 WHERE id = ?", (token_id,))
        )

    async def find_active_token(self, token_hash: str) -> ApiToken | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ? AND active = 1",
                (token_hash,),
            ).fetchone()
        )
        return None if row is None else token_row(row)

    async def touch_token(self, token_id: str, at: int) -> None:
        await self.db.write(
            lambda c: c.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (at, token_id)
            )
        )


