"""Accounts and their API tokens: creation, the owner's first token, and authentication.

A token is `wh_` + 48 lower-case hex characters (24 random bytes), the original WAHooks format. Only
its SHA-256 is stored; the raw token is shown once, when it is made. Authentication results are
cached for a few seconds so the hot ingest routes do not pay a database read per request; revoking a
token in this process drops it from the cache at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from wahooks.clock import now_ms
from wahooks.errors import Forbidden, NotFound, Unauthorized
from wahooks.ids import parse_uuid
from wahooks.models import ApiToken, User

TOKEN_PREFIX = "wh_"
_CACHE_SECONDS = 5.0
_TOUCH_EVERY_MS = 60_000


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    raw: str


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _make_raw_token() -> str:
    return TOKEN_PREFIX + secrets.token_hex(24)


@dataclass(frozen=True, slots=True)
class Principal:
    user: User
    token: ApiToken


class AccountStore(Protocol):
    """What accounts need kept: users and their tokens (hashes only)."""

    async def create_user(self, name: str, *, is_owner: bool) -> User: ...
    async def get_user(self, user_id: str) -> User | None: ...
    async def owner(self) -> User | None: ...
    async def user_named(self, name: str) -> User | None: ...
    async def create_first_owner(self, name: str) -> User | None: ...
    async def create_token(
        self, user_id: str, name: str, token_hash: str, token_prefix: str
    ) -> ApiToken: ...
    async def list_tokens(self, user_id: str) -> list[ApiToken]: ...
    async def get_token(self, token_id: str) -> ApiToken | None: ...
    async def revoke_token(self, token_id: str) -> None: ...
    async def find_active_token(self, token_hash: str) -> ApiToken | None: ...
    async def touch_token(self, token_id: str, at: int) -> None: ...


class Accounts:
    def __init__(self, store: AccountStore) -> None:
        self._store = store
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._touched: dict[str, int] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def create_user(self, name: str, *, is_owner: bool = False) -> tuple[User, NewToken]:
        user = await self._store.create_user(name, is_owner=is_owner)
        return user, await self.create_token(user, "default")

    async def user_named(self, name: str) -> User | None:
        return await self._store.user_named(name)

    async def create_token(self, user: User, name: str) -> NewToken:
        raw = _make_raw_token()
        token = await self._store.create_token(user.id, name, hash_token(raw), raw[:10] + "...")
        return NewToken(token, raw)

    async def ensure_owner(self) -> NewToken | None:
        """On first start (no owner yet), make the owner and return their first token."""
        owner = await self._store.create_first_owner("owner")
        if owner is None:
            return None
        return await self.create_token(owner, "default")

    async def owner_or_create(self) -> User:
        owner = await self._store.owner() or await self._store.create_first_owner("owner")
        return owner or await self._owner()

    async def _owner(self) -> User:
        owner = await self._store.owner()
        assert owner is not None, "an owner was just created"
        return owner

    async def list_tokens(self, user: User) -> list[ApiToken]:
        return await self._store.list_tokens(user.id)

    async def revoke_token(self, user: User, token_id: str) -> None:
        """Revoke one of the user's tokens (again is fine); it stops working in this process at
        once, in others within the cache's few seconds."""
        canonical = parse_uuid(token_id)
        token = None if canonical is None else await self._store.get_token(canonical)
        if token is None:
            raise NotFound("Token not found")
        if token.user_id != user.id:
            raise Forbidden("You do not own this token")
        await self._store.revoke_token(token.id)
        self.forget_token(token.id)

    def forget_token(self, token_id: str) -> None:
        for key, (_, principal) in list(self._cache.items()):
            if principal.token.id == token_id:
                del self._cache[key]

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("Missing or invalid Authorization header")
        raw = authorization[len("Bearer "):].strip()
        return await self.authenticate_token(raw)

    async def authenticate_token(self, raw: str) -> Principal:
        if not raw.startswith(TOKEN_PREFIX):
            raise Unauthorized("Invalid token format")
        digest = hash_token(raw)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            principal = cached[1]
        else:
            token = await self._store.find_active_token(digest)
            user = None if token is None else await self._store.get_user(token.user_id)
            if token is None or user is None:
                self._cache.pop(digest, None)
                raise Unauthorized("Invalid or revoked API token")
            principal = Principal(user, token)
            self._cache[digest] = (now + _CACHE_SECONDS, principal)
        self._touch(principal.token.id)
        return principal

    def _touch(self, token_id: str) -> None:
        # lastUsedAt is informational: written at most once a minute per token, off the request path.
        at = now_ms()
        if at - self._touched.get(token_id, 0) < _TOUCH_EVERY_MS:
            return
        self._touched[token_id] = at
        task = asyncio.create_task(self._store.touch_token(token_id, at))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
