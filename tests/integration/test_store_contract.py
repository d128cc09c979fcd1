"""The Store contract, written once for every backend (a real SQLite file here; PostgreSQL joins
the `backend` parameter when its store exists)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from wahooks.clock import now_ms
from wahooks.errors import NotFound
from wahooks.ids import uuid7
from wahooks.models import (
    AttemptOutcome,
    Connection,
    ConnectionStatus,
    DeliveryStatus,
    Webhook,
)
from wahooks.storage import PostgresStorage, SqliteStorage
from wahooks.storage import Storage as Store
from wahooks.storage.records import INTERRUPTED, NewEvent, RecordedOutcome

Scenario = Callable[[Store], Awaitable[None]]


@pytest.fixture(params=["sqlite", "postgres"])
def run(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_schema_url: Callable[[], str]
) -> Callable[[Scenario], None]:
    def make() -> Store:
        if request.param == "postgres":
            return PostgresStorage(postgres_schema_url())
        return SqliteStorage(str(tmp_path / "contract.db"))

    def go(scenario: Scenario) -> None:
        async def main() -> None:
            store = make()
            await store.open()
            try:
                await scenario(store)
            finally:
                await store.close()

        asyncio.run(main())

    return go


async def _account(store: Store) -> tuple[str, Connection]:
    user = await store.accounts.create_user("alice", is_owner=True)
    return user.id, await _account_for(store, user.id)


async def _account_for(store: Store, user_id: str) -> Connection:
    now = now_ms()
    connection = Connection(
        uuid7(), user_id, None, f"u_{uuid7()[:8]}_s_{uuid7()[-6:]}", None,
        ConnectionStatus.WORKING, "NOWEB", now, now,
    )
    await store.connections.create_connection(connection)
    return connection


async def _webhook(
    store: Store, user_id: str, connection: Connection, events: tuple[str, ...] = ("*",),
    *, active: bool = True,
) -> Webhook:
    now = now_ms()
    webhook = Webhook(
        uuid7(), user_id, connection.id, "http://127.0.0.1:9/hook", events, "s" * 64, active,
        now, now,
    )
    await store.webhooks.create_webhook(webhook)
    return webhook


def _outcome(status: int | None, error: str | None = None) -> AttemptOutcome:
    return AttemptOutcome(now_ms(), 1.5, status, error)


def test_ingest_fans_out_to_matching_active_webhooks_and_shares_the_body(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        everything = await _webhook(store, user_id, connection, ("*",))
        messages = await _webhook(store, user_id, connection, ("message",))
        await _webhook(store, user_id, connection, ("presence.update",))
        await _webhook(store, user_id, connection, ("*",), active=False)
        body = '{"event":"message","payload":{"body":"héllo 👋"}}'.encode()

        (jobs,) = await store.queue.ingest(
            [NewEvent(connection.id, "message", body)], claim_lease_ms=60_000
        )

        assert sorted(job.webhook_id for job in jobs) == sorted([everything.id, messages.id])
        assert all(job.body == body and job.attempt == 1 for job in jobs)
        logs = await store.deliveries.list_deliveries(everything.id)
        assert [log.body for log in logs] == [body]
        assert logs[0].status is DeliveryStatus.PENDING and logs[0].attempts == 1

    run(scenario)


def test_unclaimed_ingest_waits_in_the_database_until_claimed(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        (jobs,) = await store.queue.ingest(
            [NewEvent(connection.id, "message", b"{}")], claim_lease_ms=None
        )
        assert jobs[0].attempt == 0
        assert await store.queue.next_due_in_ms() == 0

        claimed = await store.queue.claim_due(10, 60_000)
        assert [job.delivery_id for job in claimed] == [jobs[0].delivery_id]
        assert claimed[0].attempt == 1 and claimed[0].url == webhook.url
        assert await store.queue.claim_due(10, 60_000) == []
        assert await store.queue.next_due_in_ms() is None

    run(scenario)


def test_outcomes_move_deliveries_through_retry_delivery_and_dead_letter(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        (jobs,) = await store.queue.ingest(
            [NewEvent(connection.id, "message", b"{}")], claim_lease_ms=60_000,
        )
        job = jobs[0]
        await store.queue.record_outcomes([
            RecordedOutcome(job.delivery_id, 1, _outcome(500, "HTTP 500: no"),
                            DeliveryStatus.PENDING, 300)
        ])
        assert await store.queue.claim_due(10, 60_000) == []
        due_in = await store.queue.next_due_in_ms()
        assert due_in is not None and 0 < due_in <= 300
        await asyncio.sleep(0.32)
        (again,) = await store.queue.claim_due(10, 60_000)
        assert again.attempt == 2
        await store.queue.record_outcomes([
            RecordedOutcome(job.delivery_id, 2, _outcome(None, "timeout"), DeliveryStatus.FAILED,
                            None)
        ])
        (log,) = await store.deliveries.list_deliveries(webhook.id)
        assert log.status is DeliveryStatus.FAILED and log.attempts == 2
        assert [(a.number, a.status_code, a.error) for a in log.attempt_log] == [
            (1, 500, "HTTP 500: no"), (2, None, "timeout"),
        ]
        assert await store.deliveries.list_deliveries(webhook.id, status=DeliveryStatus.DELIVERED) == []

        assert await store.deliveries.redeliver(webhook.id, None) == [job.delivery_id]
        (third,) = await store.queue.claim_due(10, 60_000)
        assert third.attempt == 3 and third.attempts_before_cycle == 2
        await store.queue.record_outcomes([
            RecordedOutcome(job.delivery_id, 3, _outcome(204), DeliveryStatus.DELIVERED, None)
        ])
        delivered = await store.deliveries.get_delivery(job.delivery_id)
        assert delivered is not None and delivered.status is DeliveryStatus.DELIVERED
        assert delivered.delivered_at is not None and len(delivered.attempt_log) == 3

    run(scenario)


def test_expired_leases_log_an_interrupted_attempt_and_become_due(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        (jobs,) = await store.queue.ingest([NewEvent(connection.id, "message", b"{}")],
                                     claim_lease_ms=200)
        assert await store.queue.recover_expired_leases() == 0
        assert await store.queue.claim_due(10, 60_000) == []  # held by the lease
        await asyncio.sleep(0.22)
        assert await store.queue.recover_expired_leases() == 1

        (log,) = await store.deliveries.list_deliveries(webhook.id)
        assert [(a.number, a.error) for a in log.attempt_log] == [(1, INTERRUPTED)]
        (retry,) = await store.queue.claim_due(10, 60_000)
        assert retry.delivery_id == jobs[0].delivery_id and retry.attempt == 2

    run(scenario)


def test_released_jobs_count_no_attempt(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        (jobs,) = await store.queue.ingest([NewEvent(connection.id, "message", b"{}")],
                                     claim_lease_ms=60_000)
        await store.queue.release([jobs[0].delivery_id])
        (log,) = await store.deliveries.list_deliveries(webhook.id)
        assert log.attempts == 0 and log.attempt_log == ()
        (claimed,) = await store.queue.claim_due(10, 60_000)
        assert claimed.attempt == 1

    run(scenario)


def test_prune_keeps_pending_and_the_newest_rows(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        events = [NewEvent(connection.id, "message", str(i).encode()) for i in range(9)]
        batches = await store.queue.ingest(events, claim_lease_ms=60_000)
        ids = [jobs[0].delivery_id for jobs in batches]
        outcomes = [
            RecordedOutcome(ids[i], 1, _outcome(200), DeliveryStatus.DELIVERED, None)
            for i in range(4)
        ] + [
            RecordedOutcome(ids[i], 1, _outcome(500), DeliveryStatus.FAILED, None)
            for i in range(4, 8)
        ]
        await store.queue.record_outcomes(outcomes)

        counts = await store.retention.prune(
            delivered_max_age_ms=3_600_000, delivered_kept=2, dead_letters_kept=3
        )

        assert (counts.delivered, counts.dead_letters) == (2, 1)
        left = {log.id: log.status for log in await store.deliveries.list_deliveries(webhook.id)}
        assert set(left) == {ids[2], ids[3], ids[5], ids[6], ids[7], ids[8]}
        assert left[ids[8]] is DeliveryStatus.PENDING

        await asyncio.sleep(0.01)
        aged = await store.retention.prune(
            delivered_max_age_ms=5, delivered_kept=10, dead_letters_kept=10
        )
        assert aged.delivered == 2
        assert len(await store.deliveries.list_deliveries(webhook.id)) == 4

    run(scenario)


def test_logs_page_newest_first_with_a_cursor(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        events = [NewEvent(connection.id, "message", str(i).encode()) for i in range(5)]
        await store.queue.ingest(events, claim_lease_ms=None)
        first = await store.deliveries.list_deliveries(webhook.id, limit=2)
        assert [log.body for log in first] == [b"4", b"3"]
        rest = await store.deliveries.list_deliveries(webhook.id, limit=10, before=first[-1].id)
        assert [log.body for log in rest] == [b"2", b"1", b"0"]

    run(scenario)


def test_accounts_tokens_connections_and_webhooks_round_trip(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        assert (await store.accounts.owner()) is not None
        token = await store.accounts.create_token(user_id, "ci", "h" * 64, "wh_1234567...")
        assert (await store.accounts.find_active_token("h" * 64)) == token
        await store.accounts.revoke_token(token.id)
        assert await store.accounts.find_active_token("h" * 64) is None
        assert await store.accounts.list_tokens(user_id) == []

        found = await store.connections.find_connection_by_session(connection.session_name)
        assert found == connection
        working = await store.connections.set_connection_status(
            connection.id, ConnectionStatus.WORKING, phone_number="14155550123"
        )
        assert working.phone_number == "14155550123"
        renamed = await store.connections.rename_connection(connection.id, "Support")
        assert renamed.name == "Support" and renamed.phone_number == "14155550123"
        with pytest.raises(NotFound):
            await store.connections.rename_connection(uuid7(), "x")

        webhook = await _webhook(store, user_id, connection, ("message",))
        updated = await store.webhooks.update_webhook(webhook.id, events=("*",), active=False)
        assert updated.events == ("*",) and not updated.active and updated.url == webhook.url
        await store.queue.ingest([NewEvent(connection.id, "x", b"{}")], claim_lease_ms=None,
                           only_webhook=webhook.id)
        await store.webhooks.delete_webhook(webhook.id)
        assert await store.webhooks.get_webhook(webhook.id) is None
        assert await store.deliveries.list_deliveries(webhook.id) == []

    run(scenario)


def test_concurrent_writes_share_transactions_and_one_failure_stays_alone(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        good = [
            store.queue.ingest(
                [NewEvent(connection.id, "message", str(i).encode())], claim_lease_ms=None
            )
            for i in range(200)
        ]
        bad = store.connections.rename_connection(uuid7(), "nobody")
        results = await asyncio.gather(*good, bad, return_exceptions=True)
        assert isinstance(results[-1], NotFound)
        assert len(await store.deliveries.list_deliveries(webhook.id, limit=1000)) == 200

    run(scenario)


def test_one_owner_even_when_first_starts_race(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        made = await asyncio.gather(*(store.accounts.create_first_owner("owner") for _ in range(5)))
        assert len([user for user in made if user is not None]) == 1
        assert await store.accounts.create_first_owner("owner") is None
        owner = await store.accounts.owner()
        assert owner is not None and owner.is_owner

    run(scenario)


def test_renewed_leases_do_not_expire(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        user_id = (await store.accounts.create_user("alice", is_owner=True)).id
        connection = (await _account_for(store, user_id))
        await _webhook(store, user_id, connection)
        (jobs,) = await store.queue.ingest([NewEvent(connection.id, "message", b"{}")],
                                     claim_lease_ms=150)
        await asyncio.sleep(0.1)
        await store.queue.extend_leases([jobs[0].delivery_id], 60_000)
        await asyncio.sleep(0.1)
        assert await store.queue.recover_expired_leases() == 0
        assert await store.queue.claim_due(10, 60_000) == []

    run(scenario)


def test_events_go_when_their_last_delivery_goes(
    run: Callable[[Scenario], None], tmp_path: Path
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        one = await _webhook(store, user_id, connection)
        two = await _webhook(store, user_id, connection)
        batches = await store.queue.ingest(
            [NewEvent(connection.id, "message", b"shared")], claim_lease_ms=60_000
        )
        await store.queue.record_outcomes([
            RecordedOutcome(job.delivery_id, 1, _outcome(200), DeliveryStatus.DELIVERED, None)
            for job in batches[0]
        ])
        await store.webhooks.delete_webhook(one.id)
        (left,) = await store.deliveries.list_deliveries(two.id)
        assert left.body == b"shared"  # still needed by the other webhook's delivery
        await asyncio.sleep(0.01)
        counts = await store.retention.prune(
            delivered_max_age_ms=1, delivered_kept=10, dead_letters_kept=10
        )
        assert (counts.delivered, counts.events) == (1, 1)

    run(scenario)
