"""What metrics cost: the outcome observer per attempt, and the scrape-time queue read.

    .venv/bin/python bench/metrics.py [--deliveries N] [--postgres URL]

The observer runs on the dispatcher's loop for every attempt, so its cost is per attempt (µs).
`/metrics` reads the queue from the database (deliveries by status, the oldest due one): that read
is timed on a SQLite file, and on PostgreSQL when a URL is given (a fresh schema is made and
dropped), with N deliveries (default 100,000) in the table. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from wahooks.clock import now_ms
from wahooks.delivery.retry import RetryDecision, Verdict
from wahooks.ids import uuid7
from wahooks.metrics import Metrics
from wahooks.models import AttemptOutcome, Connection, ConnectionStatus, DeliveryJob, Webhook
from wahooks.storage import PostgresStorage, SqliteStorage, Storage
from wahooks.storage.records import NewEvent

BATCH = 1000


def observer_cost(n: int = 200_000) -> float:
    metrics = Metrics(None, info={"version": "bench"})  # type: ignore[arg-type]
    job = DeliveryJob(uuid7(), uuid7(), "http://x", "s", "message", b"{}", 1, 0)
    outcomes = [
        (AttemptOutcome(now_ms(), 3.0, 200, None), RetryDecision(Verdict.DELIVERED)),
        (AttemptOutcome(now_ms(), 3.0, 503, "HTTP 503"), RetryDecision(Verdict.RETRY, 5.0)),
    ]
    started = time.perf_counter()
    for i in range(n):
        outcome, decision = outcomes[i & 1]
        metrics.observe(job, outcome, decision)
    return (time.perf_counter() - started) / n * 1e6


async def fill(store: Storage, deliveries: int) -> None:
    user = await store.accounts.create_user("bench", is_owner=True)
    now = now_ms()
    connection = Connection(uuid7(), user.id, None, "bench_session", None,
                            ConnectionStatus.WORKING, "NOWEB", now, now)
    await store.connections.create_connection(connection)
    await store.webhooks.create_webhook(Webhook(
        uuid7(), user.id, connection.id, "http://127.0.0.1:9/", ("*",), "s" * 64, True, now, now,
    ))
    for _ in range(deliveries // BATCH):
        await store.queue.ingest(
            [NewEvent(connection.id, "message", b"{}")] * BATCH, claim_lease_ms=None
        )


async def read_cost(store: Storage, deliveries: int) -> tuple[float, float]:
    await store.open()
    try:
        await fill(store, deliveries)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            depth = await store.queue.queue_depth()
            times.append((time.perf_counter() - started) * 1000)
        assert sum(depth.by_status.values()) == deliveries // BATCH * BATCH
        return statistics.median(times), max(times)
    finally:
        await store.close()


async def main(deliveries: int, postgres: str | None) -> None:
    print(f"observer: {observer_cost():.2f} µs per attempt")
    with tempfile.TemporaryDirectory() as folder:
        median, worst = await read_cost(SqliteStorage(str(Path(folder) / "b.db")), deliveries)
    print(f"queue_depth, SQLite, {deliveries} deliveries: median {median:.1f} ms, max {worst:.1f} ms")
    if postgres:
        schema = f"wahooks_bench_{uuid.uuid4().hex[:8]}"
        try:
            median, worst = await read_cost(
                PostgresStorage(f"{postgres}?schema={schema}"), deliveries
            )
            print(f"queue_depth, PostgreSQL, {deliveries} deliveries: median {median:.1f} ms,"
                  f" max {worst:.1f} ms")
        finally:
            conn = await asyncpg.connect(postgres)
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--postgres", help="postgresql://... (a schema is made and dropped)")
    args = parser.parse_args()
    asyncio.run(main(args.deliveries, args.postgres))
