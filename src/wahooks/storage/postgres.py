"""The Store on PostgreSQL (asyncpg): many API and worker processes, on many machines, one database.

What differs from SQLite, and why:
* Claims use `FOR UPDATE SKIP LOCKED`, so concurrent dispatchers never take the same delivery and
  never wait for each other; a lease that runs out (its process died) makes a delivery claimable
  again, with the interrupted attempt logged.
* Scheduling instants come from the database's clock (`wahooks_now_ms()`), never a process's.
* Concurrent ingest calls of one process share a transaction (group commit): while one batch
  commits the next accumulates, and each batch costs a fixed handful of round trips (`unnest`).
* Deliveries left unclaimed (an API process has no dispatcher) are announced with NOTIFY on
  `wahooks_due`, so workers wake at once instead of polling.
* A lost connection (PostgreSQL restarting) is retried once, then answered as 503; the pool
  reconnects by itself once the server is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from wahooks.errors import DatabaseUnavailable, NotFound
from wahooks.ids import uuid7
from wahooks.models import (
    ApiToken,
    Attempt,
    Connection,
    ConnectionStatus,
    DeliveryJob,
    DeliveryLog,
    DeliveryStatus,
    User,
    Webhook,
)
from wahooks.storage.base import (
    INTERRUPTED,
    NewEvent,
    PruneCounts,
    RecordedOutcome,
    WahaSession,
)
from wahooks.storage.batching import Batcher
from wahooks.storage.migrations import migrations_for
from wahooks.storage.rows import (
    CONNECTION_COLUMNS,
    DELIVERY_COLUMNS,
    TOKEN_COLUMNS,
    WAHA_SESSION_COLUMNS,
    WEBHOOK_COLUMNS,
    connection_row,
    token_row,
    user_row,
    waha_session_row,
    webhook_row,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DUE_CHANNEL = "wahooks_due"
LIVE_CHANNEL = "wahooks_live"
LIVE_PRESENCE_CHANNEL = "wahooks_live_presence"
_MIGRATION_LOCK = 0x7761686F6F6B73  # "wahooks"
_PRUNE_LOCK = _MIGRATION_LOCK + 1
_NOW = "wahooks_now_ms()"

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
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


@dataclass(frozen=True, slots=True)
class _IngestItem:
    events: list[NewEvent]
    claim_lease_ms: int | None
    only_webhook: str | None
    defer_webhooks: Collection[str]


class PostgresStore:
    single_process = False

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self._dsn, self._schema = split_schema(url)
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._ingest = Batcher(self._ingest_batch)
        self._listeners: list[asyncio.Task[None]] = []

    # lifecycle ----------------------------------------------------------------------------------

    async def open(self) -> None:
        settings = {"search_path": self._schema} if self._schema else {}
        if self._schema:
            first = await asyncpg.connect(self._dsn)
            try:  # under the migration lock: processes starting together would race
                await first.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
                await first.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            finally:
                await first.close()  # closing releases the lock
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=self._pool_size, server_settings=settings,
            command_timeout=60,
        )
        async with self._pool.acquire() as conn:
            await _migrate(conn)

    async def close(self) -> None:
        for task in self._listeners:
            task.cancel()
        await asyncio.gather(*self._listeners, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ping(self) -> None:
        await self._run(lambda c: c.fetchval("SELECT 1"))

    def listen_due(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever another process leaves deliveries due in the database."""
        self.listen(DUE_CHANNEL, lambda _: callback(), on_connect=callback)

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
        await self._run(lambda c: c.execute("SELECT pg_notify($1, $2)", channel, payload))

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
            except _CONNECTION_ERRORS:
                await asyncio.sleep(1.0)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _, lost=lost: lost.set())
            try:
                await conn.add_listener(channel, lambda *args: callback(args[-1]))
                if on_connect is not None:
                    on_connect()
                await lost.wait()
            except _CONNECTION_ERRORS:
                pass
            finally:
                if not conn.is_closed():
                    await conn.close()
            log.warning(
                "LISTEN connection lost; reconnecting",
                extra={"action": "pg.listen", "channel": channel},
            )
            await asyncio.sleep(0.5)

    # live events across processes ---------------------------------------------------------------

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

        await self._run(work, transaction=True)

    async def live_listener_accounts(self, except_process: str, within_ms: int) -> set[str]:
        """Accounts with live subscribers in other processes seen in the last `within_ms`."""
        rows = await self._run(lambda c: c.fetch(
            "SELECT DISTINCT user_id FROM live_listeners WHERE process_id <> $1"
            f" AND seen_at > {_NOW} - $2",
            except_process, within_ms,
        ))
        return {str(row[0]) for row in rows}

    async def stash_live_event(self, body: bytes) -> int:
        """Keep an event too large for a NOTIFY payload for a minute; its id goes instead."""
        return int(await self._run(lambda c: c.fetchval(
            f"INSERT INTO live_events (body, created_at) VALUES ($1, {_NOW}) RETURNING id", body
        )))

    async def stashed_live_event(self, stash_id: int) -> bytes | None:
        value = await self._run(lambda c: c.fetchval(
            "SELECT body FROM live_events WHERE id = $1", stash_id
        ))
        return None if value is None else bytes(value)

    async def _run(self, work: Callable[[Any], Awaitable[T]], *, transaction: bool = False) -> T:
        assert self._pool is not None, "store not open"
        for attempt in (1, 2):
            try:
                async with self._pool.acquire() as conn:
                    if not transaction:
                        return await work(conn)
                    async with conn.transaction():
                        return await work(conn)
            except _CONNECTION_ERRORS as exc:
                if attempt == 2:
                    raise DatabaseUnavailable(
                        f"The database is unavailable ({type(exc).__name__}); please retry"
                    ) from exc
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    # accounts and tokens ------------------------------------------------------------------------

    async def create_user(self, name: str, *, is_owner: bool) -> User:
        row = await self._run(lambda c: c.fetchrow(
            "INSERT INTO users (id, name, is_owner, created_at) VALUES ($1, $2, $3, "
            f"{_NOW}) RETURNING id, name, is_owner, created_at",
            uuid7(), name, is_owner,
        ))
        return user_row(row)

    async def get_user(self, user_id: str) -> User | None:
        row = await self._run(lambda c: c.fetchrow(
            "SELECT id, name, is_owner, created_at FROM users WHERE id = $1", user_id
        ))
        return None if row is None else user_row(row)

    async def owner(self) -> User | None:
        row = await self._run(lambda c: c.fetchrow(
            "SELECT id, name, is_owner, created_at FROM users WHERE is_owner ORDER BY id LIMIT 1"
        ))
        return None if row is None else user_row(row)

    async def user_named(self, name: str) -> User | None:
        row = await self._run(lambda c: c.fetchrow(
            "SELECT id, name, is_owner, created_at FROM users WHERE name = $1 ORDER BY id LIMIT 1",
            name,
        ))
        return None if row is None else user_row(row)

    async def create_first_owner(self, name: str) -> User | None:
        row = await self._run(lambda c: c.fetchrow(
            f"INSERT INTO users (id, name, is_owner, created_at) VALUES ($1, $2, true, {_NOW})"
            " ON CONFLICT (is_owner) WHERE is_owner DO NOTHING"
            " RETURNING id, name, is_owner, created_at",
            uuid7(), name,
        ))
        return None if row is None else user_row(row)

    async def create_token(
        self, user_id: str, name: str, token_hash: str, token_prefix: str
    ) -> ApiToken:
        row = await self._run(lambda c: c.fetchrow(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, token_prefix, active,"
            f" created_at) VALUES ($1, $2, $3, $4, $5, true, {_NOW}) RETURNING {TOKEN_COLUMNS}",
            uuid7(), user_id, name, token_hash, token_prefix,
        ))
        return token_row(row)

    async def list_tokens(self, user_id: str) -> list[ApiToken]:
        rows = await self._run(lambda c: c.fetch(
            f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 AND active"
            " ORDER BY id DESC",
            user_id,
        ))
        return [token_row(row) for row in rows]

    async def get_token(self, token_id: str) -> ApiToken | None:
        row = await self._run(lambda c: c.fetchrow(
            f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1", token_id
        ))
        return None if row is None else token_row(row)

    async def revoke_token(self, token_id: str) -> None:
        await self._run(lambda c: c.execute(
            "UPDATE api_tokens SET active = false WHERE id = $1", token_id
        ))

    async def find_active_token(self, token_hash: str) -> ApiToken | None:
        row = await self._run(lambda c: c.fetchrow(
            f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND active",
            token_hash,
        ))
        return None if row is None else token_row(row)

    async def touch_token(self, token_id: str, at: int) -> None:
        await self._run(lambda c: c.execute(
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", at, token_id
        ))

    # connections --------------------------------------------------------------------------------

    async def create_connection(self, connection: Connection) -> None:
        c = connection
        await self._run(lambda conn: conn.execute(
            f"INSERT INTO connections ({CONNECTION_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            c.id, c.user_id, c.name, c.session_name, c.phone_number, c.status.value, c.engine,
            c.created_at, c.updated_at,
        ))

    async def get_connection(self, connection_id: str) -> Connection | None:
        row = await self._run(lambda c: c.fetchrow(
            f"SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1", connection_id
        ))
        return None if row is None else connection_row(row)

    async def find_connection_by_session(self, session_name: str) -> Connection | None:
        row = await self._run(lambda c: c.fetchrow(
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
        rows = await self._run(lambda c: c.fetch(
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
        row = await self._run(lambda c: c.fetchrow(
            f"UPDATE connections SET {assignments}, updated_at = {_NOW} WHERE id = $1"
            f" RETURNING {CONNECTION_COLUMNS}",
            connection_id, *values,
        ))
        if row is None:
            raise NotFound("Connection not found")
        return connection_row(row)

    # WAHA sessions ------------------------------------------------------------------------------

    async def save_waha_session(self, session: WahaSession) -> None:
        w = session
        await self._run(lambda c: c.execute(
            f"INSERT INTO waha_sessions ({WAHA_SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (session_name) DO UPDATE SET connection_id = excluded.connection_id,"
            " server_url = excluded.server_url, hmac_key = excluded.hmac_key,"
            " created_at = excluded.created_at",
            w.session_name, w.connection_id, w.server_url, w.hmac_key, w.created_at,
        ))

    async def get_waha_session(self, session_name: str) -> WahaSession | None:
        row = await self._run(lambda c: c.fetchrow(
            f"SELECT {WAHA_SESSION_COLUMNS} FROM waha_sessions WHERE session_name = $1",
            session_name,
        ))
        return None if row is None else waha_session_row(row)

    async def list_waha_sessions(self) -> list[WahaSession]:
        rows = await self._run(lambda c: c.fetch(
            f"SELECT {WAHA_SESSION_COLUMNS} FROM waha_sessions ORDER BY session_name"
        ))
        return [waha_session_row(row) for row in rows]

    async def delete_waha_session(self, session_name: str) -> None:
        await self._run(lambda c: c.execute(
            "DELETE FROM waha_sessions WHERE session_name = $1", session_name
        ))

    # webhooks -----------------------------------------------------------------------------------

    async def create_webhook(self, webhook: Webhook) -> None:
        w = webhook
        await self._run(lambda c: c.execute(
            f"INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            w.id, w.user_id, w.connection_id, w.url, list(w.events), w.signing_secret, w.active,
            w.created_at, w.updated_at,
        ))

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        row = await self._run(lambda c: c.fetchrow(
            f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1", webhook_id
        ))
        return None if row is None else webhook_row(row)

    async def list_webhooks(self, connection_id: str) -> list[Webhook]:
        rows = await self._run(lambda c: c.fetch(
            f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE connection_id = $1 ORDER BY id",
            connection_id,
        ))
        return [webhook_row(row) for row in rows]

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: tuple[str, ...] | None = None,
        active: bool | None = None,
    ) -> Webhook:
        row = await self._run(lambda c: c.fetchrow(
            "UPDATE webhooks SET url = coalesce($2, url), events = coalesce($3, events),"
            f" active = coalesce($4, active), updated_at = {_NOW} WHERE id = $1"
            f" RETURNING {WEBHOOK_COLUMNS}",
            webhook_id, url, None if events is None else list(events), active,
        ))
        if row is None:
            raise NotFound("Webhook config not found")
        return webhook_row(row)

    async def delete_webhook(self, webhook_id: str) -> None:
        async def work(c: Any) -> None:
            await c.execute(
                "DELETE FROM attempts WHERE delivery_id IN"
                " (SELECT id FROM deliveries WHERE webhook_id = $1)",
                webhook_id,
            )
            await c.execute("DELETE FROM deliveries WHERE webhook_id = $1", webhook_id)
            await c.execute("DELETE FROM webhooks WHERE id = $1", webhook_id)
            await c.execute(_DELETE_ORPHAN_EVENTS)

        await self._run(work, transaction=True)

    # the delivery pipeline ----------------------------------------------------------------------

    async def ingest(
        self,
        events: list[NewEvent],
        *,
        claim_lease_ms: int | None,
        only_webhook: str | None = None,
        defer_webhooks: Collection[str] = (),
    ) -> list[list[DeliveryJob]]:
        return await self._ingest.submit(
            _IngestItem(events, claim_lease_ms, only_webhook, defer_webhooks)
        )

    async def _ingest_batch(self, items: list[_IngestItem]) -> list[list[list[DeliveryJob]]]:
        async def work(c: Any) -> list[list[list[DeliveryJob]]]:
            now = int(await c.fetchval(f"SELECT {_NOW}"))
            targets = await _targets(c, items)
            event_rows: list[tuple[str, str, str, bytes]] = []
            delivery_rows: list[tuple[str, str, str, str, int, int | None]] = []
            answers: list[list[list[DeliveryJob]]] = []
            for item in items:
                per_event = []
                for event in item.events:
                    jobs = []
                    found = targets.get((event.connection_id, event.event_type, item.only_webhook))
                    if found:
                        event_id = uuid7()
                        event_rows.append(
                            (event_id, event.connection_id, event.event_type, event.body)
                        )
                        for webhook_id, url, secret in found:
                            claimed = (
                                item.claim_lease_ms is not None
                                and webhook_id not in item.defer_webhooks
                            )
                            job = DeliveryJob(
                                uuid7(), webhook_id, url, secret, event.event_type, event.body,
                                1 if claimed else 0, 0,
                            )
                            lease = (
                                now + item.claim_lease_ms
                                if claimed and item.claim_lease_ms is not None else None
                            )
                            delivery_rows.append(
                                (job.delivery_id, webhook_id, event_id, event.event_type,
                                 job.attempt, lease)
                            )
                            jobs.append(job)
                    per_event.append(jobs)
                answers.append(per_event)
            if event_rows:
                await c.execute(
                    "INSERT INTO events (id, connection_id, event_type, body, created_at)"
                    " SELECT u.id, u.connection_id, u.event_type, u.body, $5"
                    " FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bytea[])"
                    " AS u(id, connection_id, event_type, body)",
                    *zip(*event_rows, strict=True), now,
                )
                await c.execute(
                    "INSERT INTO deliveries (id, webhook_id, event_id, event_type, status,"
                    " attempts, next_attempt_at, lease_until, created_at)"
                    " SELECT u.id, u.webhook_id, u.event_id, u.event_type, 'pending', u.attempts,"
                    " $7, u.lease_until, $7 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[],"
                    " $4::text[], $5::int[], $6::bigint[])"
                    " AS u(id, webhook_id, event_id, event_type, attempts, lease_until)",
                    *zip(*delivery_rows, strict=True), now,
                )
                if any(row[4] == 0 for row in delivery_rows):
                    await c.execute(f"NOTIFY {DUE_CHANNEL}")
            return answers

        return await self._run(work, transaction=True)

    async def claim_due(
        self, limit: int, lease_ms: int, *, skip_webhooks: Collection[str] = ()
    ) -> list[DeliveryJob]:
        rows = await self._run(lambda c: c.fetch(
            "WITH due AS (SELECT id FROM deliveries WHERE status = 'pending'"
            f" AND lease_until IS NULL AND next_attempt_at <= {_NOW}"
            " AND NOT (webhook_id = ANY($3::uuid[]))"
            " ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED),"
            " claimed AS (UPDATE deliveries d SET attempts = d.attempts + 1,"
            f" lease_until = {_NOW} + $2 FROM due WHERE d.id = due.id"
            " RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.attempts, d.cycle_start)"
            " SELECT c.id, c.webhook_id, w.url, w.signing_secret, c.event_type, e.body,"
            " c.attempts, c.cycle_start FROM claimed c"
            " JOIN webhooks w ON w.id = c.webhook_id JOIN events e ON e.id = c.event_id",
            limit, lease_ms, list(skip_webhooks),
        ), transaction=True)
        return [
            DeliveryJob(str(r[0]), str(r[1]), r[2], r[3], r[4], bytes(r[5]), r[6], r[7])
            for r in rows
        ]

    async def next_due_in_ms(self, *, skip_webhooks: Collection[str] = ()) -> int | None:
        value = await self._run(lambda c: c.fetchval(
            f"SELECT min(next_attempt_at) - {_NOW} FROM deliveries"
            " WHERE status = 'pending' AND lease_until IS NULL"
            " AND NOT (webhook_id = ANY($1::uuid[]))",
            list(skip_webhooks),
        ))
        return None if value is None else max(int(value), 0)

    async def extend_leases(self, delivery_ids: list[str], lease_ms: int) -> None:
        await self._run(lambda c: c.execute(
            f"UPDATE deliveries SET lease_until = {_NOW} + $2"
            " WHERE id = ANY($1::uuid[]) AND status = 'pending' AND lease_until IS NOT NULL",
            delivery_ids, lease_ms,
        ))

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        assert self._pool is not None, "store not open"
        try:
            conn = await self._pool.acquire()
        except _CONNECTION_ERRORS:
            yield False
            return
        try:
            held = bool(await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtext('wahooks:' || $1))", name
            ))
            try:
                yield held
            finally:
                if held:
                    with contextlib.suppress(*_CONNECTION_ERRORS):
                        await conn.execute(
                            "SELECT pg_advisory_unlock(hashtext('wahooks:' || $1))", name
                        )
        finally:
            await self._pool.release(conn)

    async def heartbeat(self, worker_id: str) -> None:
        await self._run(lambda c: c.execute(
            f"INSERT INTO workers (id, started_at, seen_at) VALUES ($1, {_NOW}, {_NOW})"
            f" ON CONFLICT (id) DO UPDATE SET seen_at = {_NOW}",
            worker_id,
        ))

    async def live_workers(self, within_ms: int) -> int:
        count = await self._run(lambda c: c.fetchval(
            f"SELECT count(*) FROM workers WHERE seen_at > {_NOW} - $1", within_ms
        ))
        return int(count)

    async def release(self, delivery_ids: list[str]) -> None:
        await self._run(lambda c: c.execute(
            f"UPDATE deliveries SET attempts = attempts - 1, lease_until = NULL,"
            f" next_attempt_at = {_NOW} WHERE id = ANY($1::uuid[]) AND status = 'pending'"
            " AND lease_until IS NOT NULL",
            delivery_ids,
        ))

    async def record_outcomes(self, outcomes: list[RecordedOutcome]) -> None:
        async def work(c: Any) -> None:
            await c.execute(
                "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code,"
                " error) SELECT u.* FROM unnest($1::uuid[], $2::int[], $3::bigint[],"
                " $4::float8[], $5::int[], $6::text[]) AS u(id, n, s, d, c, e)"
                " WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = u.id)"
                " ON CONFLICT (delivery_id, number) DO UPDATE SET started_at = excluded.started_at,"
                " duration_ms = excluded.duration_ms, status_code = excluded.status_code,"
                " error = excluded.error",
                [o.delivery_id for o in outcomes], [o.attempt for o in outcomes],
                [o.outcome.started_at for o in outcomes], [o.outcome.duration_ms for o in outcomes],
                [o.outcome.status_code for o in outcomes], [o.outcome.error for o in outcomes],
            )
            # Only the holder of the current claim settles a delivery: an outcome that arrives
            # after its lease ran out and another process re-claimed it is logged, not applied.
            await c.execute(
                "UPDATE deliveries d SET status = u.status, lease_until = NULL,"
                f" next_attempt_at = CASE WHEN u.retry_in IS NULL THEN NULL"
                f" ELSE {_NOW} + u.retry_in END,"
                " delivered_at = CASE WHEN u.status = 'delivered' THEN u.delivered_at END"
                " FROM unnest($1::uuid[], $2::int[], $3::text[], $4::bigint[], $5::bigint[])"
                " AS u(id, attempt, status, retry_in, delivered_at)"
                " WHERE d.id = u.id AND d.attempts = u.attempt AND d.status = 'pending'",
                [o.delivery_id for o in outcomes], [o.attempt for o in outcomes],
                [o.status.value for o in outcomes], [o.retry_in_ms for o in outcomes],
                [o.outcome.started_at + int(o.outcome.duration_ms) for o in outcomes],
            )

        await self._run(work, transaction=True)

    async def recover_expired_leases(self, *, all_leases: bool = False) -> int:
        # Other processes may hold leases: only expired ones are ever taken back here.
        rows = await self._run(lambda c: c.fetch(
            "WITH expired AS (SELECT id, attempts FROM deliveries WHERE status = 'pending'"
            f" AND lease_until IS NOT NULL AND lease_until < {_NOW}"
            " FOR UPDATE SKIP LOCKED),"
            " logged AS (INSERT INTO attempts (delivery_id, number, started_at, error)"
            f" SELECT id, attempts, {_NOW}, $1 FROM expired WHERE attempts > 0"
            " ON CONFLICT DO NOTHING)"
            f" UPDATE deliveries d SET lease_until = NULL, next_attempt_at = {_NOW}"
            " FROM expired WHERE d.id = expired.id RETURNING d.id",
            INTERRUPTED,
        ), transaction=True)
        if rows:
            await self._run(lambda c: c.execute(f"NOTIFY {DUE_CHANNEL}"))
        return len(rows)

    async def list_deliveries(
        self,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[DeliveryLog]:
        async def work(c: Any) -> list[DeliveryLog]:
            rows = await c.fetch(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.webhook_id = $1 AND ($2::text IS NULL OR d.status = $2)"
                " AND ($3::uuid IS NULL OR d.id < $3) ORDER BY d.id DESC LIMIT $4",
                webhook_id, None if status is None else status.value, before, limit,
            )
            return await _with_attempts(c, rows)

        return await self._run(work)

    async def get_delivery(self, delivery_id: str) -> DeliveryLog | None:
        async def work(c: Any) -> list[DeliveryLog]:
            rows = await c.fetch(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.id = $1",
                delivery_id,
            )
            return await _with_attempts(c, rows)

        found = await self._run(work)
        return found[0] if found else None

    async def redeliver(self, webhook_id: str, delivery_ids: list[str] | None) -> list[str]:
        async def work(c: Any) -> list[str]:
            if delivery_ids is None:
                rows = await c.fetch(
                    "UPDATE deliveries SET status = 'pending', cycle_start = attempts,"
                    f" next_attempt_at = {_NOW}, lease_until = NULL"
                    " WHERE webhook_id = $1 AND status = 'failed' RETURNING id",
                    webhook_id,
                )
            else:
                rows = await c.fetch(
                    "UPDATE deliveries SET status = 'pending', cycle_start = attempts,"
                    f" next_attempt_at = {_NOW}, lease_until = NULL, delivered_at = NULL"
                    " WHERE id = ANY($2::uuid[]) AND webhook_id = $1"
                    " AND status IN ('failed', 'delivered') RETURNING id",
                    webhook_id, delivery_ids,
                )
            if rows:
                await c.execute(f"NOTIFY {DUE_CHANNEL}")
            return [str(row[0]) for row in rows]

        return await self._run(work, transaction=True)

    async def prune(
        self, *, delivered_max_age_ms: int, delivered_kept: int, dead_letters_kept: int
    ) -> PruneCounts:
        async def work(c: Any) -> PruneCounts:
            # One process prunes at a time; the others skip this round.
            if not await c.fetchval("SELECT pg_try_advisory_xact_lock($1)", _PRUNE_LOCK):
                return PruneCounts(0, 0, 0)
            delivered = await _delete_deliveries(
                c, f"status = 'delivered' AND delivered_at < {_NOW} - $1", delivered_max_age_ms
            )
            dead = 0
            for row in await c.fetch("SELECT id FROM webhooks"):
                delivered += await _trim(c, row[0], "delivered", delivered_kept)
                dead += await _trim(c, row[0], "failed", dead_letters_kept)
            events = _count(await c.execute(_DELETE_ORPHAN_EVENTS))
            await c.execute(f"DELETE FROM workers WHERE seen_at < {_NOW} - 86400000")
            await c.execute(f"DELETE FROM live_events WHERE created_at < {_NOW} - 60000")
            await c.execute(f"DELETE FROM live_listeners WHERE seen_at < {_NOW} - 600000")
            return PruneCounts(delivered, dead, events)

        return await self._run(work, transaction=True)


async def _migrate(conn: Any) -> None:
    """Apply pending migrations under an advisory lock, so processes starting together do not
    race each other."""
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
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
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)


async def _targets(
    c: Any, items: list[_IngestItem]
) -> dict[tuple[str, str, str | None], list[tuple[str, str, str]]]:
    """For each (connection, event type, only_webhook) in the batch, the webhooks to deliver to."""
    connection_ids = sorted({
        e.connection_id for item in items if item.only_webhook is None for e in item.events
    })
    only = sorted({item.only_webhook for item in items if item.only_webhook is not None})
    found: dict[tuple[str, str, str | None], list[tuple[str, str, str]]] = {}
    if connection_ids:
        rows = await c.fetch(
            "SELECT id, connection_id, url, signing_secret, events FROM webhooks"
            " WHERE connection_id = ANY($1::uuid[]) AND active ORDER BY id",
            connection_ids,
        )
        for item in items:
            if item.only_webhook is not None:
                continue
            for event in item.events:
                key = (event.connection_id, event.event_type, None)
                if key not in found:
                    found[key] = [
                        (str(r[0]), r[2], r[3]) for r in rows
                        if str(r[1]) == event.connection_id
                        and ("*" in r[4] or event.event_type in r[4])
                    ]
    if only:
        rows = await c.fetch(
            "SELECT id, url, signing_secret FROM webhooks WHERE id = ANY($1::uuid[])", only
        )
        by_id = {str(r[0]): (str(r[0]), r[1], r[2]) for r in rows}
        for item in items:
            if item.only_webhook is not None and item.only_webhook in by_id:
                for event in item.events:
                    found[(event.connection_id, event.event_type, item.only_webhook)] = [
                        by_id[item.only_webhook]
                    ]
    return found


async def _with_attempts(c: Any, rows: list[Any]) -> list[DeliveryLog]:
    if not rows:
        return []
    by_delivery: dict[str, list[Attempt]] = {}
    for r in await c.fetch(
        "SELECT delivery_id, number, started_at, duration_ms, status_code, error FROM attempts"
        " WHERE delivery_id = ANY($1::uuid[]) ORDER BY delivery_id, number",
        [row[0] for row in rows],
    ):
        by_delivery.setdefault(str(r[0]), []).append(Attempt(r[1], r[2], r[3], r[4], r[5]))
    return [
        DeliveryLog(
            id=str(row[0]), webhook_id=str(row[1]), event_id=str(row[2]), event_type=row[3],
            body=bytes(row[4]), status=DeliveryStatus(row[5]), attempts=row[6],
            next_attempt_at=row[7], delivered_at=row[8], created_at=row[9],
            attempt_log=tuple(by_delivery.get(str(row[0]), ())),
        )
        for row in rows
    ]


_DELETE_ORPHAN_EVENTS = (
    "DELETE FROM events e WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)"
)


def _count(status: str) -> int:
    """Rows affected, from asyncpg's command status ("DELETE 3")."""
    return int(status.rsplit(" ", 1)[-1])


async def _delete_deliveries(c: Any, condition: str, *params: object) -> int:
    await c.execute(
        f"DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE {condition})",
        *params,
    )
    return _count(await c.execute(f"DELETE FROM deliveries WHERE {condition}", *params))


async def _trim(c: Any, webhook_id: Any, status: str, keep: int) -> int:
    """Delete all but the newest `keep` deliveries of one webhook in one status."""
    if keep <= 0:
        return await _delete_deliveries(c, "webhook_id = $1 AND status = $2", webhook_id, status)
    return await _delete_deliveries(
        c,
        "webhook_id = $1 AND status = $2 AND id < (SELECT id FROM deliveries"
        " WHERE webhook_id = $1 AND status = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)",
        webhook_id, status, keep - 1,
    )
