"""Move an installation from its SQLite file to PostgreSQL: accounts, tokens, connections,
webhooks, events, deliveries and attempts, so a user who outgrows the default keeps everything.

The copy runs with the server stopped (the SQLite file is locked meanwhile). Deliveries that were
in flight when it stopped are first settled the way a restart would (attempt logged as
interrupted, due again), and events a retention sweep noted as orphans but had not yet deleted (it
was interrupted) are deleted, so no note is left behind; then everything is written to an empty
PostgreSQL database in one transaction: either all of it arrives, or nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import asyncpg
import orjson

from wahooks.errors import Conflict
from wahooks.storage.postgres import PostgresStorage, split_schema
from wahooks.storage.sqlite import SqliteStorage
from wahooks.storage.sqlite.retention import delete_orphan_events

# Parents before children; the columns of each table, as both schemas name them.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("users", ("id", "name", "is_owner", "created_at")),
    ("api_tokens", ("id", "user_id", "name", "token_hash", "token_prefix", "active",
                    "last_used_at", "created_at")),
    ("connections", ("id", "user_id", "name", "session_name", "phone_number", "status", "engine",
                     "created_at", "updated_at")),
    ("waha_sessions", ("session_name", "connection_id", "server_url", "hmac_key", "created_at")),
    ("webhooks", ("id", "user_id", "connection_id", "url", "events", "signing_secret", "active",
                  "created_at", "updated_at", "previous_secret", "previous_secret_expires_at",
                  "disabled_reason", "disabled_at", "last_success_at", "last_failure_at",
                  "failing_since", "consecutive_dead_letters", "held_dropped", "ordering")),
    ("events", ("id", "connection_id", "event_type", "body", "created_at")),
    ("deliveries", ("id", "webhook_id", "event_id", "event_type", "status", "attempts",
                    "cycle_start", "next_attempt_at", "lease_until", "delivered_at", "created_at",
                    "next_trigger", "order_key", "order_seq")),
    ("attempts", ("delivery_id", "number", "started_at", "duration_ms", "status_code", "error",
                  "error_class", "response_body", "response_headers", "triggered_by",
                  "request_headers")),
)
_BOOLEANS = {"is_owner", "active"}
_BATCH = 5000


async def copy_sqlite_to_postgres(sqlite_path: str, postgres_url: str) -> dict[str, int]:
    """Copy everything; returns the number of rows per table."""
    source = SqliteStorage(sqlite_path)
    await source.open()
    try:
        await source.queue.recover_expired_leases(all_leases=True)
        await source.database.write(delete_orphan_events)
    finally:
        await source.close()
    destination = PostgresStorage(postgres_url)
    await destination.open()  # creates the schema
    await destination.close()

    dsn, schema = split_schema(postgres_url)
    conn = await asyncpg.connect(
        dsn, server_settings={"search_path": schema} if schema else {}
    )
    reader = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    counts: dict[str, int] = {}
    try:
        if await conn.fetchval("SELECT count(*) FROM users"):
            raise Conflict(
                "The PostgreSQL database already has accounts; copy into an empty one"
            )
        async with conn.transaction():
            for table, columns in TABLES:
                counts[table] = 0
                for rows in _batches(reader, table, columns):
                    await conn.copy_records_to_table(table, records=rows, columns=list(columns))
                    counts[table] += len(rows)
    finally:
        reader.close()
        await conn.close()
    return counts


def _batches(
    reader: sqlite3.Connection, table: str, columns: tuple[str, ...]
) -> Iterator[list[tuple[Any, ...]]]:
    cursor = reader.execute(f"SELECT {', '.join(columns)} FROM {table}")
    convert = [_converter(column) for column in columns]
    while rows := cursor.fetchmany(_BATCH):
        yield [tuple(f(value) for f, value in zip(convert, row, strict=True)) for row in rows]


def _converter(column: str) -> Any:
    if column in _BOOLEANS:
        return lambda value: None if value is None else bool(value)
    if column == "events":
        return lambda value: list(orjson.loads(value))
    return lambda value: value
