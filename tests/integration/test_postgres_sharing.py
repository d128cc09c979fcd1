"""What only a shared database has to get right: two stores (as two processes would) never claim
the same delivery, a late outcome from a lost lease does not overwrite the new holder's,
unclaimed work wakes the other side through NOTIFY, and a WAHA event's id being taken by another
process is waited for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import pytest

from wahooks.clock import now_ms
from wahooks.ids import uuid7
from wahooks.models import AttemptOutcome, Connection, ConnectionStatus, DeliveryStatus, Webhook
from wahooks.storage import PostgresStorage
from wahooks.storage.postgres import split_schema
from wahooks.storage.records import INTERRUPTED, NewEvent, RecordedOutcome, ReplayKey


async def _setup(store: PostgresStorage) -> tuple[Connection, Webhook]:
    user = await store.accounts.create_user("alice", is_owner=True)
    now = now_ms()
    connection = Connection(uuid7(), user.id, None, "u_x_s_y", None, ConnectionStatus.WORKING,
                            "NOWEB", now, now)
    await store.connections.create_connection(connection)
    webhook = Webhook(uuid7(), user.id, connection.id, "http://127.0.0.1:9/", ("*",), "s" * 64,
                      True, now, now)
    await store.webhooks.create_webhook(webhook)
    return connection, webhook


def _pair(postgres_schema_url: Callable[[], str]) -> tuple[PostgresStorage, PostgresStorage]:
    url = postgres_schema_url()
    return PostgresStorage(url), PostgresStorage(url)


def test_concurrent_claims_never_overlap(postgres_schema_url: Callable[[], str]) -> None:
    one, two = _pair(postgres_schema_url)

    async def scenario() -> None:
        await one.open()
        await two.open()
        try:
            connection, _ = await _setup(one)
            events = [NewEvent(connection.id, "message", str(i).encode()) for i in range(600)]
            await one.queue.ingest(events, claim_lease_ms=None)

            async def drain(store: PostgresStorage) -> list[str]:
                taken: list[str] = []
                while batch := await store.queue.claim_due(37, 60_000):
                    taken += [job.delivery_id for job in batch]
                return taken

            first, second = await asyncio.gather(drain(one), drain(two))
            assert len(first) + len(second) == 600
            assert not set(first) & set(second)
            assert first and second  # both really took part
        finally:
            await one.close()
            await two.close()

    asyncio.run(scenario())


def test_a_late_outcome_is_logged_but_does_not_settle_a_reclaimed_delivery(
    postgres_schema_url: Callable[[], str],
) -> None:
    one, two = _pair(postgres_schema_url)

    async def scenario() -> None:
        await one.open()
        await two.open()
        try:
            connection, webhook = await _setup(one)
            (jobs,) = await one.queue.ingest([NewEvent(connection.id, "message", b"{}")],
                                       claim_lease_ms=100)
            await asyncio.sleep(0.15)
            assert await two.queue.recover_expired_leases() == 1
            (again,) = await two.queue.claim_due(10, 60_000)
            assert again.attempt == 2

            late = AttemptOutcome(now_ms(), 900.0, 200, None)
            await one.queue.record_outcomes([
                RecordedOutcome(jobs[0].delivery_id, 1, late, DeliveryStatus.DELIVERED, None)
            ])
            (log,) = await two.deliveries.list_deliveries(webhook.id)
            assert log.status is DeliveryStatus.PENDING  # still the second holder's
            assert log.attempt_log[0].status_code == 200  # but what really happened is logged

            await two.queue.record_outcomes([RecordedOutcome(
                again.delivery_id, 2, AttemptOutcome(now_ms(), 1.0, 204, None),
                DeliveryStatus.DELIVERED, None,
            )])
            (log,) = await one.deliveries.list_deliveries(webhook.id)
            assert log.status is DeliveryStatus.DELIVERED and log.attempts == 2
            assert INTERRUPTED not in [a.error for a in log.attempt_log]
        finally:
            await one.close()
            await two.close()

    asyncio.run(scenario())


def test_unclaimed_deliveries_wake_listeners(postgres_schema_url: Callable[[], str]) -> None:
    api, worker = _pair(postgres_schema_url)

    async def scenario() -> None:
        await api.open()
        await worker.open()
        woken = asyncio.Event()
        try:
            connection, _ = await _setup(api)
            worker.queue.listen_due(woken.set)
            await asyncio.wait_for(woken.wait(), 5)  # the listener announces itself once
            woken.clear()
            await api.queue.ingest([NewEvent(connection.id, "message", b"{}")], claim_lease_ms=None)
            await asyncio.wait_for(woken.wait(), 5)
        finally:
            await api.close()
            await worker.close()

    asyncio.run(scenario())


def test_one_process_at_a_time_holds_a_named_job(postgres_schema_url: Callable[[], str]) -> None:
    one, two = _pair(postgres_schema_url)

    async def scenario() -> None:
        await one.open()
        await two.open()
        try:
            async with one.processes.exclusive("waha-reconcile") as first:
                assert first
                async with two.processes.exclusive("waha-reconcile") as second:
                    assert not second
                async with two.processes.exclusive("another job") as other:
                    assert other
            async with two.processes.exclusive("waha-reconcile") as after:
                assert after
        finally:
            await one.close()
            await two.close()

    asyncio.run(scenario())


def test_a_session_lock_left_on_a_lent_connection_is_let_go_when_it_returns(
    postgres_schema_url: Callable[[], str],
) -> None:
    """The pool skips asyncpg's reset for connections used through `run()` (they leave no session
    state); one lent for session-level work is still reset on release, so a session lock that its
    holder failed to unlock does not outlive the loan on a pooled connection."""
    one, two = _pair(postgres_schema_url)
    lock = 0x5E55

    async def scenario() -> None:
        one.database.pool_size = 1  # one connection: whatever the loan left, `run` gets back
        await one.open()
        await two.open()
        try:
            async with one.database.connection() as c:
                assert await c.fetchval("SELECT pg_try_advisory_lock($1)", lock)
            held = await one.database.run(
                lambda c: c.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND objid = $1 AND pid = pg_backend_pid()", lock,
                )
            )
            assert held == 0
            assert await two.database.run(
                lambda c: c.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock)
            )
        finally:
            await one.close()
            await two.close()

    asyncio.run(scenario())


def test_an_ingest_batch_that_would_hold_sees_an_enable_committed_meanwhile(
    postgres_schema_url: Callable[[], str],
) -> None:
    """Another process enables the webhook between this batch's read of its webhooks (disabled)
    and its insert: the batch waits for that enable on the webhook's row and then makes the
    delivery due instead of holding it, so no delivery stays held after the enable's replay."""
    url = postgres_schema_url()
    store = PostgresStorage(url)

    async def scenario() -> None:
        await store.open()
        dsn, schema = split_schema(url)
        enabler = await asyncpg.connect(dsn, server_settings={"search_path": schema or "public"})
        watcher = await asyncpg.connect(dsn)
        try:
            connection, webhook = await _setup(store)
            (jobs,) = await store.queue.ingest(
                [NewEvent(connection.id, "message", b"0")], claim_lease_ms=60_000
            )
            await store.queue.record_outcomes([RecordedOutcome(
                jobs[0].delivery_id, 1, AttemptOutcome(now_ms(), 1.0, 410, "gone"),
                DeliveryStatus.PENDING, 1000, webhook_id=webhook.id,
            )])
            enabling = enabler.transaction()
            await enabling.start()
            await enabler.execute(
                "UPDATE webhooks SET disabled_reason = NULL, disabled_at = NULL WHERE id = $1",
                webhook.id,
            )
            ingesting = asyncio.create_task(store.queue.ingest(
                [NewEvent(connection.id, "message", b"1")], claim_lease_ms=None
            ))
            deadline = time.monotonic() + 10
            while not await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE '%disabled_reason IS NOT NULL%FOR SHARE%'"
            ):
                assert time.monotonic() < deadline, "the batch never waited for the enable"
                assert not ingesting.done()
                await asyncio.sleep(0.01)
            await enabling.commit()
            await ingesting

            held = await store.deliveries.list_deliveries(webhook.id, status=DeliveryStatus.HELD)
            due = await store.queue.claim_due(10, 60_000)
            assert [log.body for log in held] == [b"0"]  # the 410's, for the replay
            assert [job.body for job in due] == [b"1"]
        finally:
            await enabler.close()
            await watcher.close()
            await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("other_commits", [True, False])
def test_a_replay_key_another_process_is_taking_is_waited_for(
    postgres_schema_url: Callable[[], str], other_commits: bool,
) -> None:
    """Another process's ingest has taken an event's replay key and not committed yet: this batch
    waits for it, then skips the event if that transaction committed, and takes the key and
    stores the event if it rolled back (its event was never stored: WAHA's retry must count)."""
    url = postgres_schema_url()
    store = PostgresStorage(url)

    async def scenario() -> None:
        await store.open()
        dsn, schema = split_schema(url)
        other = await asyncpg.connect(dsn, server_settings={"search_path": schema or "public"})
        watcher = await asyncpg.connect(dsn)
        try:
            connection, webhook = await _setup(store)
            taking = other.transaction()
            await taking.start()
            await other.execute(
                "INSERT INTO waha_event_ids (session_name, event_id, received_at)"
                " VALUES ('s1', 'evt_1', 1)"
            )
            other_pid = await other.fetchval("SELECT pg_backend_pid()")
            ingesting = asyncio.create_task(store.queue.ingest(
                [NewEvent(connection.id, "message", b"1", replay_key=ReplayKey("s1", "evt_1", 2))],
                claim_lease_ms=None,
            ))
            deadline = time.monotonic() + 10
            while not await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                other_pid,
            ):
                assert time.monotonic() < deadline, "the batch never waited for the other's key"
                assert not ingesting.done()
                await asyncio.sleep(0.01)
            await (taking.commit() if other_commits else taking.rollback())
            (jobs,) = await ingesting

            stored = await store.deliveries.list_deliveries(webhook.id)
            if other_commits:
                assert jobs is None and stored == []
            else:
                assert jobs is not None and [log.body for log in stored] == [b"1"]
        finally:
            await other.close()
            await watcher.close()
            await store.close()

    asyncio.run(scenario())
