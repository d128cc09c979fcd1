"""The Store on one SQLite file: the embedded default."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any

import orjson

from wahooks.clock import now_ms
from wahooks.errors import NotFound
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
from wahooks.storage.sqlite_database import SqliteDatabase


class SqliteStore:
    single_process = True

    def __init__(self, path: str, *, synchronous: str = "NORMAL") -> None:
        self._active = _ActiveWebhooks()
        self.db = SqliteDatabase(path, synchronous=synchronous, on_rollback=self._active.forget)

    async def open(self) -> None:
        await self.db.start()

    async def close(self) -> None:
        await self.db.stop()

    async def ping(self) -> None:
        await self.db.read(lambda conn: conn.execute("SELECT 1").fetchone())

    # accounts and tokens ------------------------------------------------------------------------

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

    # connections --------------------------------------------------------------------------------

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

    # WAHA sessions ------------------------------------------------------------------------------

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

    # webhooks -----------------------------------------------------------------------------------

    async def create_webhook(self, webhook: Webhook) -> None:
        w = webhook

        def work(conn: sqlite3.Connection) -> None:
            self._active.forget()
            conn.execute(
                f"INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (w.id, w.user_id, w.connection_id, w.url, orjson.dumps(list(w.events)).decode(),
                 w.signing_secret, int(w.active), w.created_at, w.updated_at),
            )

        await self.db.write(work)

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?", (webhook_id,)
            ).fetchone()
        )
        return None if row is None else webhook_row(row)

    async def list_webhooks(self, connection_id: str) -> list[Webhook]:
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE connection_id = ? ORDER BY id",
                (connection_id,),
            ).fetchall()
        )
        return [webhook_row(row) for row in rows]

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: tuple[str, ...] | None = None,
        active: bool | None = None,
    ) -> Webhook:
        assignments: list[str] = ["updated_at = ?"]
        values: list[object] = [now_ms()]
        if url is not None:
            assignments.append("url = ?")
            values.append(url)
        if events is not None:
            assignments.append("events = ?")
            values.append(orjson.dumps(list(events)).decode())
        if active is not None:
            assignments.append("active = ?")
            values.append(int(active))

        def work(conn: sqlite3.Connection) -> Webhook:
            self._active.forget()
            row = conn.execute(
                f"UPDATE webhooks SET {', '.join(assignments)} WHERE id = ?"
                f" RETURNING {WEBHOOK_COLUMNS}",
                (*values, webhook_id),
            ).fetchone()
            if row is None:
                raise NotFound("Webhook config not found")
            return webhook_row(row)

        return await self.db.write(work)

    async def delete_webhook(self, webhook_id: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._active.forget()
            _delete_deliveries(conn, "webhook_id = ?", (webhook_id,))
            conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))
            _delete_orphan_events(conn)

        await self.db.write(work)

    # the delivery pipeline ----------------------------------------------------------------------

    async def ingest(
        self,
        events: list[NewEvent],
        *,
        claim_lease_ms: int | None,
        only_webhook: str | None = None,
        defer_webhooks: Collection[str] = (),
    ) -> list[list[DeliveryJob]]:
        def work(conn: sqlite3.Connection) -> list[list[DeliveryJob]]:
            now = now_ms()
            claim_until = None if claim_lease_ms is None else now + claim_lease_ms
            return [
                _ingest_one(
                    conn, self._active, event, now, claim_until, only_webhook, defer_webhooks
                )
                for event in events
            ]

        return await self.db.write(work)

    async def claim_due(
        self, limit: int, lease_ms: int, *, skip_webhooks: Collection[str] = ()
    ) -> list[DeliveryJob]:
        skip, skipped = _not_in("d.webhook_id", skip_webhooks)

        def work(conn: sqlite3.Connection) -> list[DeliveryJob]:
            now = now_ms()
            lease_until = now + lease_ms
            rows = conn.execute(
                "SELECT d.id, d.webhook_id, w.url, w.signing_secret, d.event_type, e.body,"
                " d.attempts, d.cycle_start"
                " FROM deliveries d JOIN events e ON e.id = d.event_id"
                " JOIN webhooks w ON w.id = d.webhook_id"
                " WHERE d.status = 'pending' AND d.lease_until IS NULL AND d.next_attempt_at <= ?"
                f"{skip} ORDER BY d.next_attempt_at LIMIT ?",
                (now, *skipped, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE deliveries SET attempts = attempts + 1, lease_until = ? WHERE id = ?",
                [(lease_until, row[0]) for row in rows],
            )
            return [
                DeliveryJob(row[0], row[1], row[2], row[3], row[4], row[5], row[6] + 1, row[7])
                for row in rows
            ]

        return await self.db.write(work)

    async def next_due_in_ms(self, *, skip_webhooks: Collection[str] = ()) -> int | None:
        skip, skipped = _not_in("webhook_id", skip_webhooks)
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT min(next_attempt_at) FROM deliveries"
                f" WHERE status = 'pending' AND lease_until IS NULL{skip}",
                skipped,
            ).fetchone()
        )
        return None if row[0] is None else max(int(row[0]) - now_ms(), 0)

    async def extend_leases(self, delivery_ids: list[str], lease_ms: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE deliveries SET lease_until = ? WHERE id = ? AND status = 'pending'"
                " AND lease_until IS NOT NULL",
                [(now_ms() + lease_ms, delivery_id) for delivery_id in delivery_ids],
            )

        await self.db.write(work)

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        yield True  # one process owns the file

    async def heartbeat(self, worker_id: str) -> None:
        """One process: its dispatcher is the only worker, and it knows whether it runs."""

    async def live_workers(self, within_ms: int) -> int:
        return 0

    def listen_due(self, callback: Callable[[], None]) -> None:
        """Nothing to listen to: only this process writes the file, and it pokes directly."""

    async def release(self, delivery_ids: list[str]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE deliveries SET attempts = attempts - 1, lease_until = NULL,"
                " next_attempt_at = ? WHERE id = ? AND status = 'pending'"
                " AND lease_until IS NOT NULL",
                [(now, delivery_id) for delivery_id in delivery_ids],
            )

        now = now_ms()
        await self.db.write(work)

    async def record_outcomes(self, outcomes: list[RecordedOutcome]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            now = now_ms()
            conn.executemany(
                "INSERT OR REPLACE INTO attempts"
                " (delivery_id, number, started_at, duration_ms, status_code, error)"
                " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?)",
                [
                    (o.delivery_id, o.attempt, o.outcome.started_at, o.outcome.duration_ms,
                     o.outcome.status_code, o.outcome.error, o.delivery_id)
                    for o in outcomes
                ],
            )
            conn.executemany(
                "UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = NULL,"
                " delivered_at = ? WHERE id = ?",
                [
                    (o.status.value, None if o.retry_in_ms is None else now + o.retry_in_ms,
                     o.outcome.started_at + int(o.outcome.duration_ms)
                     if o.status is DeliveryStatus.DELIVERED else None,
                     o.delivery_id)
                    for o in outcomes
                ],
            )

        await self.db.write(work)

    async def recover_expired_leases(self, *, all_leases: bool = False) -> int:
        def work(conn: sqlite3.Connection) -> int:
            now = now_ms()
            condition = "" if all_leases else " AND lease_until < ?"
            params: tuple[object, ...] = () if all_leases else (now,)
            rows = conn.execute(
                "SELECT id, attempts FROM deliveries"
                f" WHERE status = 'pending' AND lease_until IS NOT NULL{condition}",
                params,
            ).fetchall()
            conn.executemany(
                "INSERT OR IGNORE INTO attempts (delivery_id, number, started_at, error)"
                " VALUES (?, ?, ?, ?)",
                [(id_, attempts, now, INTERRUPTED) for id_, attempts in rows if attempts > 0],
            )
            conn.executemany(
                "UPDATE deliveries SET lease_until = NULL, next_attempt_at = ? WHERE id = ?",
                [(now, id_) for id_, _ in rows],
            )
            return len(rows)

        return await self.db.write(work)

    async def list_deliveries(
        self,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[DeliveryLog]:
        where, params = ["d.webhook_id = ?"], [webhook_id]
        if status is not None:
            where.append("d.status = ?")
            params.append(status.value)
        if before is not None:
            where.append("d.id < ?")
            params.append(before)

        def work(conn: sqlite3.Connection) -> list[DeliveryLog]:
            rows = conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                f" WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
            return _with_attempts(conn, rows)

        return await self.db.read(work)

    async def get_delivery(self, delivery_id: str) -> DeliveryLog | None:
        def work(conn: sqlite3.Connection) -> list[DeliveryLog]:
            rows = conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.id = ?",
                (delivery_id,),
            ).fetchall()
            return _with_attempts(conn, rows)

        found = await self.db.read(work)
        return found[0] if found else None

    async def redeliver(self, webhook_id: str, delivery_ids: list[str] | None) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            now = now_ms()
            if delivery_ids is None:
                rows = conn.execute(
                    "UPDATE deliveries SET status = 'pending', cycle_start = attempts,"
                    " next_attempt_at = ?, lease_until = NULL"
                    " WHERE webhook_id = ? AND status = 'failed' RETURNING id",
                    (now, webhook_id),
                ).fetchall()
            else:
                rows = []
                for delivery_id in delivery_ids:
                    rows += conn.execute(
                        "UPDATE deliveries SET status = 'pending', cycle_start = attempts,"
                        " next_attempt_at = ?, lease_until = NULL, delivered_at = NULL"
                        " WHERE id = ? AND webhook_id = ? AND status IN ('failed', 'delivered')"
                        " RETURNING id",
                        (now, delivery_id, webhook_id),
                    ).fetchall()
            return [row[0] for row in rows]

        return await self.db.write(work)

    async def prune(
        self, *, delivered_max_age_ms: int, delivered_kept: int, dead_letters_kept: int
    ) -> PruneCounts:
        # In short write transactions (a slice of webhooks each), so that a large sweep never
        # holds the single writer, and with it every ingest, for long.
        def aged(conn: sqlite3.Connection) -> int:
            return _delete_deliveries(
                conn, "status = 'delivered' AND delivered_at < ?",
                (now_ms() - delivered_max_age_ms,),
            )

        delivered = await self.db.write(aged)
        webhook_ids = await self.db.read(
            lambda c: [row[0] for row in c.execute("SELECT id FROM webhooks ORDER BY id")]
        )
        dead = 0
        for start in range(0, len(webhook_ids), PRUNE_SLICE):
            chunk = webhook_ids[start:start + PRUNE_SLICE]

            def trim(conn: sqlite3.Connection, chunk: list[str] = chunk) -> tuple[int, int]:
                return (
                    sum(_trim(conn, webhook_id, "delivered", delivered_kept) for webhook_id in chunk),
                    sum(_trim(conn, webhook_id, "failed", dead_letters_kept) for webhook_id in chunk),
                )

            trimmed, trimmed_dead = await self.db.write(trim)
            delivered += trimmed
            dead += trimmed_dead
        return PruneCounts(delivered, dead, await self.db.write(_delete_orphan_events))


PRUNE_SLICE = 50


def _not_in(column: str, values: Collection[str]) -> tuple[str, tuple[str, ...]]:
    """An `AND column NOT IN (...)` clause and its parameters; nothing for no values."""
    if not values:
        return "", ()
    return f" AND {column} NOT IN ({','.join('?' * len(values))})", tuple(values)


class _ActiveWebhooks:
    """Each connection's active webhooks, as the writer thread sees them, so that ingest does not
    query and parse them per event. Only the writer thread reads or changes this, and every
    webhook write runs on that thread and clears it (one process owns the file), so it is exact;
    a failed commit clears it too."""

    def __init__(self) -> None:
        self._by_connection: dict[str, list[tuple[str, str, str, frozenset[str]]]] = {}

    def of(
        self, conn: sqlite3.Connection, connection_id: str
    ) -> list[tuple[str, str, str, frozenset[str]]]:
        found = self._by_connection.get(connection_id)
        if found is None:
            found = self._by_connection[connection_id] = [
                (id_, url, secret, frozenset(orjson.loads(events)))
                for id_, url, secret, events in conn.execute(
                    "SELECT id, url, signing_secret, events FROM webhooks"
                    " WHERE connection_id = ? AND active = 1 ORDER BY id",
                    (connection_id,),
                )
            ]
        return found

    def forget(self) -> None:
        self._by_connection.clear()


def _ingest_one(
    conn: sqlite3.Connection,
    active: _ActiveWebhooks,
    event: NewEvent,
    now: int,
    claim_until: int | None,
    only_webhook: str | None,
    defer_webhooks: Collection[str],
) -> list[DeliveryJob]:
    if only_webhook is None:
        targets: list[Any] = [
            row for row in active.of(conn, event.connection_id)
            if "*" in row[3] or event.event_type in row[3]
        ]
    else:
        targets = conn.execute(
            "SELECT id, url, signing_secret, events FROM webhooks WHERE id = ?", (only_webhook,)
        ).fetchall()
    if not targets:
        return []
    event_id = uuid7()
    conn.execute(
        "INSERT INTO events (id, connection_id, event_type, body, created_at) VALUES (?, ?, ?, ?, ?)",
        (event_id, event.connection_id, event.event_type, event.body, now),
    )
    jobs = [
        DeliveryJob(
            uuid7(), row[0], row[1], row[2], event.event_type, event.body,
            0 if claim_until is None or row[0] in defer_webhooks else 1, 0,
        )
        for row in targets
    ]
    conn.executemany(
        "INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts,"
        " next_attempt_at, lease_until, created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        [
            (job.delivery_id, job.webhook_id, event_id, event.event_type, job.attempt, now,
             claim_until if job.attempt else None, now)
            for job in jobs
        ],
    )
    return jobs


def _with_attempts(conn: sqlite3.Connection, rows: list[Any]) -> list[DeliveryLog]:
    if not rows:
        return []
    ids = [row[0] for row in rows]
    marks = ",".join("?" * len(ids))
    by_delivery: dict[object, list[Attempt]] = {}
    for delivery_id, number, started_at, duration_ms, status_code, error in conn.execute(
        "SELECT delivery_id, number, started_at, duration_ms, status_code, error FROM attempts"
        f" WHERE delivery_id IN ({marks}) ORDER BY delivery_id, number",
        ids,
    ):
        by_delivery.setdefault(delivery_id, []).append(
            Attempt(number, started_at, duration_ms, status_code, error)
        )
    return [
        DeliveryLog(
            id=str(row[0]), webhook_id=str(row[1]), event_id=str(row[2]), event_type=str(row[3]),
            body=bytes(row[4]),
            status=DeliveryStatus(row[5]), attempts=int(row[6]),
            next_attempt_at=None if row[7] is None else int(row[7]),
            delivered_at=None if row[8] is None else int(row[8]),
            created_at=int(row[9]),
            attempt_log=tuple(by_delivery.get(row[0], ())),
        )
        for row in rows
    ]


def _delete_deliveries(conn: sqlite3.Connection, condition: str, params: tuple[object, ...]) -> int:
    conn.execute(
        f"DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE {condition})",
        params,
    )
    gone = conn.execute(
        f"DELETE FROM deliveries WHERE {condition} RETURNING event_id", params
    ).fetchall()
    # Their events may now have no delivery left: remember them for the orphan sweep, which
    # then looks at these few instead of scanning every event.
    conn.executemany(
        "INSERT OR IGNORE INTO orphan_candidates (event_id) VALUES (?)", gone
    )
    return len(gone)


def _trim(conn: sqlite3.Connection, webhook_id: str, status: str, keep: int) -> int:
    """Delete all but the newest `keep` deliveries of one webhook in one status."""
    if keep <= 0:
        return _delete_deliveries(conn, "webhook_id = ? AND status = ?", (webhook_id, status))
    # The id of the keep-th newest row; everything older goes. Fewer rows than `keep`: NULL,
    # coalesced to '' which no id sorts below, so nothing is deleted.
    return _delete_deliveries(
        conn,
        "webhook_id = ? AND status = ? AND id < coalesce((SELECT id FROM deliveries"
        " WHERE webhook_id = ? AND status = ? ORDER BY id DESC LIMIT 1 OFFSET ?), '')",
        (webhook_id, status, webhook_id, status, keep - 1),
    )


def _delete_orphan_events(conn: sqlite3.Connection) -> int:
    removed = conn.execute(
        "DELETE FROM events WHERE id IN (SELECT event_id FROM orphan_candidates)"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)"
    ).rowcount
    conn.execute("DELETE FROM orphan_candidates")
    return removed
