"""PostgreSQL (asyncpg) for every aggregate: many API and worker processes, on many machines, one
database. The statements that matter are named in postgres/queries.sql.

What differs from SQLite, and why:
* Claims use `FOR UPDATE SKIP LOCKED`, so concurrent dispatchers never take the same delivery and
  never wait for each other; a lease that runs out (its process died) makes a delivery claimable
  again, with the interrupted attempt logged.
* Scheduling instants come from the database's clock (`wahooks_now_ms()`), never a process's.
* Concurrent ingest calls of one process share a transaction (group commit): while one batch
  commits the next accumulates, and each batch costs a fixed handful of round trips (`unnest`).
* Deliveries left unclaimed (an API process has no dispatcher) are announced with NOTIFY on
  `wahooks_due`, so workers wake at once instead of polling.
* Retention runs its steps in short transactions on one connection holding a session advisory
  lock, so one process prunes at a time and a sweep never holds many rows locked for long.
* A lost connection (PostgreSQL restarting) is retried once, then answered as 503; the pool
  reconnects by itself once the server is back.
* A connection goes back to the pool without asyncpg's reset query (a round trip on every release,
  several per delivery) unless it was lent for session-level work (`connection()`, `session()`):
  `run()` leaves no session state behind (transactions always end, locks are transaction-scoped,
  nothing is SET, LISTEN has connections of its own), so only those can need it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from wahooks.errors import DatabaseUnavailable
from wahooks.storage.migrations import migrations_for

log = logging.getLogger(__name__)

T = TypeVar("T")

DUE_CHANNEL = "wahooks_due"

LIVE_CHANNEL = "wahooks_live"

LIVE_PRESENCE_CHANNEL = "wahooks_live_presence"

WEBHOOK_STATE_CHANNEL = "wahooks_webhook_state"

MIGRATION_LOCK = 0x7761686F6F6B73  # "wahooks"

PRUNE_LOCK = MIGRATION_LOCK + 1

NOW = "wahooks_now_ms()"

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


def split_schema(url: str) -> tuple[str, str | None]:
    """The DSN without our `schema=` query parameter, and that schema (None: the default)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == "schema"), None)
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped
    """A pool's connection that knows whether it was lent for session-level work (a session
    advisory lock), the only session state wahooks leaves on a connection."""

    __slots__ = ("_lent_for_session",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lent_for_session = False

    def lend_for_session(self) -> None:
        self._lent_for_session = True

    async def reset_session(self) -> None:
        """Called by the pool on release, after asyncpg has ended any open transaction: clear
        session state (advisory locks, settings, cursors, LISTENs) only where some may be."""
        if self._lent_for_session:
            self._lent_for_session = False
            await self.execute(self.get_reset_query())


class PostgresDatabase:
    """The connection pool every aggregate shares, migrations, and LISTEN/NOTIFY."""

    single_process = False

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self._dsn, self._schema = split_schema(url)
        self.pool_size = pool_size
        self.pool: asyncpg.Pool | None = None
        self._listeners: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        settings = {"search_path": self._schema} if self._schema else {}
        if self._schema:
            first = await asyncpg.connect(self._dsn)
            try:  # under the migration lock: processes starting together would race
                await first.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
                await first.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            finally:
                await first.close()  # closing releases the lock
        self.pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=self.pool_size, server_settings=settings,
            command_timeout=60, connection_class=PooledConnection,
            reset=PooledConnection.reset_session,
        )
        async with self.connection() as conn:
            await _migrate(conn)

    async def close(self) -> None:
        for task in self._listeners:
            task.cancel()
        await asyncio.gather(*self._listeners, return_exceptions=True)
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def ping(self) -> None:
        await self.run(lambda c: c.fetchval("SELECT 1"))

    def listen(
        self,
        channel: str,
        callback: Callable[[str], None],
        *,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        """Call `callback(payload)` for every NOTIFY on `channel`, on a connection of its own
        that is re-established whenever it is lost; `on_connect` runs each time it is (to catch
        up on whatever was announced while nobody listened)."""
        task = asyncio.create_task(
            self._listen(channel, callback, on_connect), name=f"wahooks-listen-{channel}"
        )
        self._listeners.append(task)

    async def notify(self, channel: str, payload: str) -> None:
        await self.run(lambda c: c.execute("SELECT pg_notify($1, $2)", channel, payload))

    async def _listen(
        self,
        channel: str,
        callback: Callable[[str], None],
        on_connect: Callable[[], None] | None,
    ) -> None:
        settings = {"search_path": self._schema} if self._schema else {}
        while True:
            try:
                conn = await asyncpg.connect(self._dsn, server_settings=settings)
            except CONNECTION_ERRORS:
                await asyncio.sleep(1.0)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _, lost=lost: lost.set())
            try:
                await conn.add_listener(channel, lambda *args: callback(args[-1]))
                if on_connect is not None:
                    on_connect()
                await lost.wait()
            except CONNECTION_ERRORS:
                pass
            finally:
                if not conn.is_closed():
                    await conn.close()
            log.warning(
                "LISTEN connection lost; reconnecting",
                extra={"action": "pg.listen", "channel": channel},
            )
            await asyncio.sleep(0.5)

    async def session(self) -> Any:
        """A pooled connection for session-level work, cleared of its session state when it is
        released (`self.pool.release(conn)`)."""
        assert self.pool is not None, "store not open"
        conn = await self.pool.acquire()
        conn.lend_for_session()
        return conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """One pooled connection for several transactions (a session-level lock held across
        them); a lost connection is answered as unavailable, without a retry."""
        assert self.pool is not None, "store not open"
        try:
            async with self.pool.acquire() as conn:
                conn.lend_for_session()
                yield conn
        except CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(
                f"The database is unavailable ({type(exc).__name__}); please retry"
            ) from exc

    async def run(self, work: Callable[[Any], Awaitable[T]], *, transaction: bool = False) -> T:
        assert self.pool is not None, "store not open"
        for attempt in (1, 2):
            try:
                async with self.pool.acquire() as conn:
                    if not transaction:
                        return await work(conn)
                    async with conn.transaction():
                        return await work(conn)
            except CONNECTION_ERRORS as exc:
                if attempt == 2:
                    raise DatabaseUnavailable(
                        f"The database is unavailable ({type(exc).__name__}); please retry"
                    ) from exc
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")


async def _migrate(conn: Any) -> None:
    """Apply pending migrations under an advisory lock, so processes starting together do not
    race each other."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in migrations_for("postgres"):
            if migration.version in applied:
                continue
            log.info("applying migration", extra={"action": "migrate", "version": migration.version})
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version, migration.name,
                )
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
