"""Retention parity: the same history pruned on SQLite and on PostgreSQL leaves exactly the same
rows, and those rows follow the rules (pending untouched, the newest N per webhook per status
kept, delivered rows past the maximum age gone, an event kept exactly while a delivery needs it)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from wahooks.clock import now_ms
from wahooks.ids import uuid7
from wahooks.models import AttemptOutcome, Connection, ConnectionStatus, DeliveryStatus, Webhook
from wahooks.storage import PostgresStorage, SqliteStorage, Storage
from wahooks.storage.postgres.database import PRUNE_LOCK
from wahooks.storage.postgres.retention import PostgresRetention
from wahooks.storage.records import NewEvent, PruneCounts, RecordedOutcome
from wahooks.storage.retention import WEBHOOK_SLICE

HOUR_MS = 3_600_000
# Webhooks by name and what they subscribe to; `gone` is deleted before the sweep.
SUBSCRIPTIONS = {"all": ("*",), "messages": ("message",), "late": ("*",), "gone": ("*",)}
# Enough idle webhooks between `all` and the others that the sweep needs two slices.
IDLE_WEBHOOKS = WEBHOOK_SLICE
EVENTS = [("message", i) for i in range(12)] + [("presence.update", i) for i in range(12, 16)]

Snapshot = dict[str, Any]


def _status(webhook: int, event: int) -> DeliveryStatus:
    """Each delivery's fate, spread over the statuses so every rule has rows to act on; the first
    three events are delivered everywhere (long ago: their events must go too)."""
    if event < 3:
        return DeliveryStatus.DELIVERED
    return (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.PENDING)[
        (webhook + event) % 3
    ]


async def _history(store: Storage) -> dict[str, str]:
    """Several webhooks, delivered / failed / pending deliveries of shared events, some delivered
    long ago; one webhook deleted. The webhook ids by name."""
    user = await store.accounts.create_user("alice", is_owner=True)
    now = now_ms()
    connection = Connection(uuid7(), user.id, None, f"s_{uuid7()}", None, ConnectionStatus.WORKING,
                            "NOWEB", now, now)
    await store.connections.create_connection(connection)
    ids: dict[str, str] = {}
    for name, events in SUBSCRIPTIONS.items():
        ids[name] = await _webhook(store, user.id, connection.id, name, events)
        if name == "all":
            for n in range(IDLE_WEBHOOKS):
                await _webhook(store, user.id, connection.id, f"idle{n}", ("never",))
    batches = await store.queue.ingest(
        [NewEvent(connection.id, kind, f"event {i}".encode()) for kind, i in EVENTS],
        claim_lease_ms=600_000,
    )
    names = {webhook_id: n for n, webhook_id in ids.items()}
    outcomes = []
    for (_, i), jobs in zip(EVENTS, batches, strict=True):
        for job in jobs:
            status = _status(list(SUBSCRIPTIONS).index(names[job.webhook_id]), i)
            if status is not DeliveryStatus.PENDING:
                # The first five events were delivered two hours ago: past the maximum age.
                started = now - 2 * HOUR_MS if i < 5 else now
                outcome = AttemptOutcome(started, 3.0, 200 if status.value == "delivered" else 500,
                                         None)
                outcomes.append(RecordedOutcome(job.delivery_id, 1, outcome, status, None))
    await store.queue.record_outcomes(outcomes)
    await store.webhooks.delete_webhook(ids["gone"])
    return ids


async def _webhook(store: Storage, user_id: str, connection_id: str, name: str,
                   events: tuple[str, ...]) -> str:
    now = now_ms()
    webhook = Webhook(uuid7(), user_id, connection_id, f"http://127.0.0.1:9/{name}", events,
                      "s" * 64, True, now, now)
    await store.webhooks.create_webhook(webhook)
    return webhook.id


async def _rows(store: Storage, sql: str) -> list[tuple[Any, ...]]:
    if isinstance(store, SqliteStorage):
        return await store.database.read(lambda c: c.execute(sql).fetchall())
    return [tuple(row) for row in await store.database.run(lambda c: c.fetch(sql))]


async def _snapshot(store: Storage) -> Snapshot:
    """Every row left, described by names and bodies (ids differ between the runs)."""
    deliveries = await _rows(
        store,
        "SELECT w.url, e.body, d.status, (SELECT count(*) FROM attempts a"
        " WHERE a.delivery_id = d.id) FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id"
        " JOIN events e ON e.id = d.event_id",
    )
    return {
        "deliveries": sorted(
            (str(url).rsplit("/", 1)[-1], bytes(body).decode(), str(status), int(attempts))
            for url, body, status, attempts in deliveries
        ),
        "events": sorted(
            bytes(row[0]).decode() for row in await _rows(store, "SELECT body FROM events")
        ),
        "attempts": int((await _rows(store, "SELECT count(*) FROM attempts"))[0][0]),
        "orphan_candidates": int(
            (await _rows(store, "SELECT count(*) FROM orphan_candidates"))[0][0]
        ),
    }


async def _pruned(store: Storage) -> tuple[PruneCounts, Snapshot]:
    await store.open()
    try:
        await _history(store)
        counts = await store.retention.prune(
            delivered_max_age_ms=HOUR_MS, delivered_kept=2, dead_letters_kept=1
        )
        return counts, await _snapshot(store)
    finally:
        await store.close()


def test_the_same_history_pruned_on_both_backends_leaves_the_same_rows(
    tmp_path: Path, postgres_schema_url: Any
) -> None:
    on_sqlite = asyncio.run(_pruned(SqliteStorage(str(tmp_path / "parity.db"))))
    on_postgres = asyncio.run(_pruned(PostgresStorage(postgres_schema_url())))

    assert on_sqlite == on_postgres
    counts, left = on_sqlite
    per_webhook = Counter((name, status) for name, _, status, _ in left["deliveries"])
    assert all(per_webhook[(name, "delivered")] <= 2 for name in SUBSCRIPTIONS)
    assert all(per_webhook[(name, "failed")] <= 1 for name in SUBSCRIPTIONS)
    assert not any(name == "gone" for name, *_ in left["deliveries"])
    # Pending deliveries are never pruned: every one made is still there.
    pending = sum(
        1 for name in ("all", "messages", "late") for kind, i in EVENTS
        if (name != "messages" or kind == "message")
        and _status(list(SUBSCRIPTIONS).index(name), i) is DeliveryStatus.PENDING
    )
    assert per_webhook[("all", "pending")] + per_webhook[("messages", "pending")] + per_webhook[
        ("late", "pending")] == pending
    assert left["events"] == sorted({body for _, body, _, _ in left["deliveries"]})
    assert left["attempts"] == sum(attempts for *_, attempts in left["deliveries"])
    assert left["orphan_candidates"] == 0
    assert counts.delivered > 0 and counts.dead_letters > 0 and counts.events > 0


def test_one_postgres_process_prunes_at_a_time(postgres_schema_url: Any) -> None:
    async def main() -> None:
        store = PostgresStorage(postgres_schema_url())
        await store.open()
        try:
            await _history(store)
            await _coordination_rows(store)
            before = await _snapshot(store)
            async with store.database.connection() as other_pruner:
                await other_pruner.execute("SELECT pg_advisory_lock($1)", PRUNE_LOCK)
                skipped = await store.retention.prune(
                    delivered_max_age_ms=HOUR_MS, delivered_kept=0, dead_letters_kept=0
                )
                await other_pruner.execute("SELECT pg_advisory_unlock($1)", PRUNE_LOCK)
            assert skipped == PruneCounts(0, 0, 0)
            assert await _snapshot(store) == before
            done = await store.retention.prune(
                delivered_max_age_ms=HOUR_MS, delivered_kept=0, dead_letters_kept=0
            )
            assert done.delivered > 0 and done.dead_letters > 0
            # The pruner also clears what process coordination leaves behind.
            assert await _rows(store, "SELECT id FROM workers") == [("recent",)]
            assert await _rows(store, "SELECT body FROM live_events") == [(b"recent",)]
            assert await _rows(store, "SELECT process_id FROM live_listeners") == [("recent",)]
        finally:
            await store.close()

    asyncio.run(main())


async def _coordination_rows(store: PostgresStorage) -> None:
    """A worker last seen two days ago, a live event and a listener from an hour ago; and recent
    ones of each."""
    owner = await store.accounts.owner()
    assert owner is not None
    user_id = owner.id
    now, old = now_ms(), now_ms() - HOUR_MS

    async def work(c: Any) -> None:
        await c.execute("INSERT INTO workers (id, started_at, seen_at)"
                        " VALUES ('old', $1, $1), ('recent', $2, $2)", now - 48 * HOUR_MS, now)
        await c.execute("INSERT INTO live_events (body, created_at)"
                        " VALUES ('old', $1), ('recent', $2)", old, now)
        await c.execute("INSERT INTO live_listeners (process_id, user_id, seen_at)"
                        " VALUES ('old', $3, $1), ('recent', $3, $2)", old, now, user_id)

    await store.database.run(work)


def test_a_large_trim_on_postgres_leaves_its_space_reusable(postgres_schema_url: Any) -> None:
    """The sweep vacuums what a large trim deleted from: no dead rows are left in the tables, so
    new rows reuse their space. (A threshold of 1 row makes this small history a large trim.)"""

    async def scenario() -> tuple[PruneCounts, dict[str, tuple[int, int]]]:
        store = PostgresStorage(postgres_schema_url())
        await store.open()
        try:
            await _history(store)
            retention = PostgresRetention(store.database, vacuum_after_deleted=1)
            counts = await retention.prune(
                delivered_max_age_ms=HOUR_MS, delivered_kept=1, dead_letters_kept=1
            )
            rows = await store.database.run(lambda c: c.fetch(
                "SELECT relname, n_dead_tup, vacuum_count FROM pg_stat_user_tables"
                " WHERE schemaname = current_schema()"
                " AND relname IN ('deliveries', 'attempts', 'events')"
            ))
            return counts, {r["relname"]: (r["n_dead_tup"], r["vacuum_count"]) for r in rows}
        finally:
            await store.close()

    counts, tables = asyncio.run(scenario())
    assert counts.delivered and counts.events
    assert tables == {name: (0, 1) for name in ("deliveries", "attempts", "events")}
