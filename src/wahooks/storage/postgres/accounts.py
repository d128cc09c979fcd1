"""Accounts and their API tokens."""

from __future__ import annotations

from wahooks.ids import uuid7
from wahooks.models import (
    ApiToken,
    User,
)
from wahooks.storage.postgres.database import (
    NOW as _NOW,
)
from wahooks.storage.postgres.database import (
    PostgresDatabase,
)
from wahooks.storage.rows import (
    TOKEN_COLUMNS,
    token_row,
    user_row,
)


class PostgresAccounts:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_user(self, name: str, *, is_owner: bool) -> User:
        row = await self._db.run(lambda c: c.fetchrow(
            "INSERT INTO users (id, name, is_owner, created_at) VALUES ($1, $2, $3, "
            f"{_NOW}) RETURNING id, name, is_owner, created_at",
            uuid7(), name, is_owner,
        ))
        return user_row(row)

    async def get_user(self, user_id: str) -> User | None:
        row = await self._db.run(lambda c: c.fetchrow(
            "SELECT id, name, is_owner, created_at FROM users WHERE id = $1", user_id
        ))
        return None if row is None else user_row(row)

    async def owner(self) -> User | None:
        row = await self._db.run(lambda c: c.fetchrow(
            "SELECT id, name, is_owner, created_at FROM users WHERE is_owner ORDER BY id LIMIT 1"
        ))
        return None if row is None else user_row(row)

    async def user_named(self, name: str) -> User | None:
        row = await self._db.run(lambda c: c.fetchrow(
            "SELECT id, name, is_owner, created_at FROM users WHERE name = $1 ORDER BY id LIMIT 1",
            name,
        ))
        return None if row is None else user_row(row)

    async def create_first_owner(self, name: str) -> User | None:
        row = await self._db.run(lambda c: c.fetchrow(
            f"INSERT INTO users (id, name, is_owner, created_at) VALUES ($1, $2, true, {_NOW})"
            " ON CONFLICT (is_owner) WHERE is_owner DO NOTHING"
            " RETURNING id, name, is_owner, created_at",
            uuid7(), name,
        ))
        return None if row is None else user_row(row)

    async def create_token(
        self, user_id: str, name: str, token_hash: str, token_prefix: str
    ) -> ApiToken:
        row = await self._db.run(lambda c: c.fetchrow(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, token_prefix, active,"
            f" created_at) VALUES ($1, $2, $3, $4, $5, true, {_NOW}) RETURNING {TOKEN_COLUMNS}",
            uuid7(), user_id, name, token_hash, token_prefix,
        ))
        return token_row(row)

    async def list_tokens(self, user_id: str) -> list[ApiToken]:
        rows = await self._db.run(lambda c: c.fetch(
            f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 AND active"
            " ORDER BY id DESC",
            user_id,
        ))
        return [token_row(row) for row in rows]

    async def get_token(self, token_id: str) -> ApiToken | None:
        row = await self._db.run(lambda c: c.fetchrow(
            f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1", token_id
        ))
        return None if row is None else token_row(row)

    async def revoke_token(self, token_id: str) -> None:
        await self._db.run(lambda c: c.execute(
            "UPDATE api_tokens SET active = false WHERE id = $1", token_id
        ))

    async def find_active_token(self, token_hash: str) -> ApiToken | None:
        row = await self._db.run(lambda c: c.fetchrow(
            f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND active",
            token_hash,
        ))
        return None if row is None else token_row(row)

    async def touch_token(self, token_id: str, at: int) -> None:
        await self._db.run(lambda c: c.execute(
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", at, token_id
        ))


