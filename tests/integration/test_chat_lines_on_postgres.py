"""Per-chat lines under concurrency on PostgreSQL, at the storage seam: three stores on one schema
(three pools, as three processes would have) ingest one chat's events (two of them at once) and
claim and settle its deliveries at the same time. However the transactions interleave, a chat's
next delivery is never claimed before the outcome of the one before it is being written, none is
left waiting, and the events each store acknowledged are claimed in that order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from wahooks.clock import now_ms
from wahooks.ids import uuid7
from wahooks.models import (
    AttemptOutcome,
    Connection,
    ConnectionStatus,
    DeliveryJob,
    DeliveryStatus,
    Ordering,
    Webhook,
)
from wahooks.storage import PostgresStorage
from wahooks.storage.records import NewEvent, RecordedOutcome

CHATS = 6
EVENTS = 40


async def _ordered_webhook(store: PostgresStorage) -> Connection:
    user = await store.accounts.create_user("alice", is_owner=True)
    now = now_ms()
    connection = Connection(uuid7(), user.id, None, f"u_{uuid7()[:8]}_s_x", None,
                            ConnectionStatus.WORKING, "NOWEB", now, now)
    await store.connections.create_connection(connection)
    await store.webhooks.create_webhook(Webhook(
        uuid7(), user.id, connection.id, "http://127.0.0.1:9/h", ("*",), "s" * 64, True, now, now,
        ordering=Ordering.CHAT,
    ))
    return connection


def test_concurrent_ingest_claims_and_outcomes_keep_each_chat_in_line(
    postgres_schema_url: Callable[[], str],
) -> None:
    url = postgres_schema_url()
    chats = [f"chat{c}@c.us" for c in range(CHATS)]
    claimed: dict[str, list[int]] = {chat: [] for chat in chats}
    holding: set[str] = set()  # lines whose delivery is claimed and not yet being settled
    violations: list[str] = []

    async def ingest(
        store: PostgresStorage, connection: Connection, chat: str, parity: int
    ) -> None:
        for number in range(parity, EVENTS, 2):
            # Half of the events claimed at ingest (the hot path) when first in line, half left
            # for the claim loops.
            (jobs,) = await store.queue.ingest(
                [NewEvent(connection.id, "message", f"{chat} {number}".encode(), chat)],
                claim_lease_ms=60_000 if number % 4 < 2 else None,
            )
            hot = [job for job in jobs if job.attempt]
            for job in hot:
                take(job)
            await settle_jobs(store, hot)

    async def settle_jobs(store: PostgresStorage, jobs: list[DeliveryJob]) -> None:
        if not jobs:
            return
        for job in jobs:
            holding.discard(str(job.order_key))  # its outcome is being written: no sooner
        await store.queue.record_outcomes([
            RecordedOutcome(job.delivery_id, job.attempt, AttemptOutcome(now_ms(), 1.0, 200, None),
                            DeliveryStatus.DELIVERED, None, job.trigger, job.webhook_id,
                            job.order_key)
            for job in jobs
        ])

    async def settle(store: PostgresStorage, done: asyncio.Event) -> None:
        while not done.is_set() or any(len(claimed[c]) < EVENTS for c in claimed):
            jobs = await store.queue.claim_due(20, 60_000)
            if not jobs:
                await asyncio.sleep(0.002)
                continue
            for job in jobs:
                take(job)
            await settle_jobs(store, jobs)

    def take(job: DeliveryJob) -> None:
        chat, number = job.body.decode().split()
        if str(job.order_key) in holding:
            violations.append(f"{chat} #{number} claimed while the one before it was held")
        holding.add(str(job.order_key))
        claimed[chat].append(int(number))

    async def main() -> None:
        stores = [PostgresStorage(url) for _ in range(3)]
        for store in stores:
            await store.open()
        try:
            connection = await _ordered_webhook(stores[0])
            done = asyncio.Event()
            settlers = [asyncio.create_task(settle(store, done)) for store in stores[1:]]
            # Each chat's even events through one store and odd ones through another, at once.
            await asyncio.gather(*(
                ingest(stores[parity], connection, chat, parity)
                for chat in chats for parity in (0, 1)
            ))
            done.set()
            await asyncio.wait_for(asyncio.gather(*settlers), 60)
        finally:
            for store in stores:
                await store.close()

    asyncio.run(main())
    assert violations == []
    for numbers in claimed.values():
        # Everything, each store's events in the order it acknowledged them.
        assert sorted(numbers) == list(range(EVENTS))
        for parity in (0, 1):
            assert [n for n in numbers if n % 2 == parity] == list(range(parity, EVENTS, 2))
