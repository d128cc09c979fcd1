"""Storage benchmark: the store's hot statements and its retention, with no server in between.

    .venv/bin/python bench/storage.py [--backends sqlite,postgres] [--events N] [--rounds R]

Per backend and round, on a fresh SQLite file or a fresh PostgreSQL schema (dropped afterwards),
one connection with three webhooks (`*`, `message`, `presence.update`):

  ingest    N message events, one per call, 256 calls at a time, claimed at insert (the hot path)
  outcomes  every claimed delivery recorded delivered, 100 per call
  claim     N more events ingested unclaimed, then claim_due(100) until none is due
  prune     the first sweep: all but 100 delivered per webhook go, and their events
  steady    a second database with N pending events kept and nothing to delete: one sweep

Figures are this process's CPU time per item (SQLite runs in-process, so that is all of its
work; PostgreSQL's server CPU is not in it) and wall time for the sweeps. To compare two
versions, run this file against each source tree in one sitting, e.g. with PYTHONPATH set to
another checkout's src; timings on a shared machine are noisy: compare several rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from typing import Any

import asyncpg

from wahooks.clock import now_ms
from wahooks.ids import uuid7
from wahooks.models import AttemptOutcome, Connection, ConnectionStatus, DeliveryStatus, Webhook
from wahooks.storage import PostgresStorage, SqliteStorage
from wahooks.storage.records import NewEvent, RecordedOutcome

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BODY = b'{"event":"message","payload":{"body":"hello"}}'


def _open(backend: str, schemas: list[str]) -> Any:
    if backend == "sqlite":
        return SqliteStorage(os.path.join(tempfile.mkdtemp(), "bench.db"))
    schemas.append(f"bench_storage_{uuid.uuid4().hex[:10]}")
    return PostgresStorage(f"{POSTGRES}?schema={schemas[-1]}")


async def _connection(store: Any) -> tuple[str, list[str]]:
    user = await store.accounts.create_user("bench", is_owner=True)
    now = now_ms()
    connection = Connection(uuid7(), user.id, None, f"bench_{uuid7()}", None,
                            ConnectionStatus.WORKING, "NOWEB", now, now)
    await store.connections.create_connection(connection)
    webhooks = []
    for events in (("*",), ("message",), ("presence.update",)):
        webhook = Webhook(uuid7(), user.id, connection.id, "http://127.0.0.1:9/bench", events,
                          "s" * 64, True, now, now)
        await store.webhooks.create_webhook(webhook)
        webhooks.append(webhook.id)
    return connection.id, webhooks


async def _ingest(store: Any, connection_id: str, n: int, lease: int | None) -> list[Any]:
    jobs = []
    for start in range(0, n, 256):
        answers = await asyncio.gather(*(
            store.queue.ingest([NewEvent(connection_id, "message", BODY)], claim_lease_ms=lease)
            for _ in range(min(256, n - start))
        ))
        jobs += [job for answer in answers for job in answer[0]]
    return jobs


async def _hot_and_prune(store: Any, n: int) -> dict[str, float]:
    connection_id, webhooks = await _connection(store)
    figures: dict[str, float] = {}
    cpu = time.process_time()
    jobs = await _ingest(store, connection_id, n, 60_000)
    figures["ingest us/event"] = (time.process_time() - cpu) * 1e6 / n
    cpu = time.process_time()
    for start in range(0, len(jobs), 100):
        await store.queue.record_outcomes([
            RecordedOutcome(job.delivery_id, 1, AttemptOutcome(now_ms(), 1.0, 200, None),
                            DeliveryStatus.DELIVERED, None)
            for job in jobs[start:start + 100]
        ])
    figures["outcomes us/outcome"] = (time.process_time() - cpu) * 1e6 / len(jobs)
    await _ingest(store, connection_id, n, None)
    cpu, claimed = time.process_time(), 0
    while batch := await store.queue.claim_due(100, 60_000, skip_webhooks=[webhooks[2]]):
        claimed += len(batch)
    figures["claim us/delivery"] = (time.process_time() - cpu) * 1e6 / claimed
    wall = time.perf_counter()
    await store.retention.prune(delivered_max_age_ms=3_600_000, delivered_kept=100,
                                dead_letters_kept=100)
    figures["prune ms"] = (time.perf_counter() - wall) * 1000
    return figures


async def _steady(store: Any, n: int) -> dict[str, float]:
    connection_id, _ = await _connection(store)
    await _ingest(store, connection_id, n, None)
    await store.retention.prune(delivered_max_age_ms=3_600_000, delivered_kept=100,
                                dead_letters_kept=100)
    wall = time.perf_counter()
    await store.retention.prune(delivered_max_age_ms=3_600_000, delivered_kept=100,
                                dead_letters_kept=100)
    return {"steady prune ms": (time.perf_counter() - wall) * 1000}


async def _round(backend: str, n: int, schemas: list[str]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for case in (_hot_and_prune, _steady):
        store = _open(backend, schemas)
        await store.open()
        try:
            figures |= await case(store, n)
        finally:
            await store.close()
    return figures


async def _drop(schemas: list[str]) -> None:
    if schemas:
        conn = await asyncpg.connect(POSTGRES)
        try:
            for schema in schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        for number in range(1, args.rounds + 1):
            schemas: list[str] = []
            try:
                figures = asyncio.run(_round(backend, args.events, schemas))
            finally:
                asyncio.run(_drop(schemas))
            print(f"{backend:<8} round {number}: "
                  + "  ".join(f"{name} {value:7.1f}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
