"""The storage contract, written once and run on both backends (a real SQLite file and a fresh
PostgreSQL schema): every public method of every aggregate has a scenario here, which the last test
checks against the aggregates themselves."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from wahooks.chats import line_key
from wahooks.clock import now_ms
from wahooks.errors import NotFound
from wahooks.ids import uuid7
from wahooks.models import (
    AttemptOutcome,
    Connection,
    ConnectionStatus,
    DeliveryJob,
    DeliveryStatus,
    DisabledReason,
    ErrorClass,
    Ordering,
    SentRequest,
    Trigger,
    Webhook,
)
from wahooks.storage import PostgresStorage, SqliteStorage
from wahooks.storage import Storage as Store
from wahooks.storage.health import DisableRule
from wahooks.storage.records import (
    INTERRUPTED,
    NewEvent,
    RecordedOutcome,
    ReplayKey,
    WahaSession,
    WebhookStateChange,
    WrittenOutcomes,
)

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
        assert {job.account_id for job in jobs} == {user_id}  # fair shares are per account
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
        assert claimed[0].account_id == user_id
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


def test_queue_depth_counts_deliveries_by_status_held_and_the_oldest_due_wait(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        empty = await store.queue.queue_depth()
        assert empty.by_status == dict.fromkeys(DeliveryStatus, 0)
        assert (empty.leased, empty.oldest_due_age_ms) == (0, 0)
        user_id, connection = await _account(store)
        await _webhook(store, user_id, connection)
        (held,) = await store.queue.ingest(
            [NewEvent(connection.id, "message", b"{}")], claim_lease_ms=60_000
        )
        await store.queue.ingest(
            [NewEvent(connection.id, "message", b"{}")] * 2, claim_lease_ms=None
        )
        await asyncio.sleep(0.05)
        depth = await store.queue.queue_depth()
        assert depth.by_status[DeliveryStatus.PENDING] == 3 and depth.leased == 1
        assert depth.oldest_due_age_ms >= 50

        (claimed, _) = await store.queue.claim_due(10, 60_000)
        await store.queue.record_outcomes([
            RecordedOutcome(held[0].delivery_id, 1, _outcome(204), DeliveryStatus.DELIVERED, None),
            RecordedOutcome(claimed.delivery_id, 1, _outcome(500), DeliveryStatus.FAILED, None),
        ])
        depth = await store.queue.queue_depth()
        assert depth.by_status == {
            DeliveryStatus.PENDING: 1, DeliveryStatus.DELIVERED: 1, DeliveryStatus.FAILED: 1,
            DeliveryStatus.HELD: 0,
        }
        assert (depth.leased, depth.oldest_due_age_ms) == (1, 0)

    run(scenario)


def test_an_accounts_queue_depth_counts_only_its_own_deliveries(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        alice, alice_connection = await _account(store)
        bob = (await store.accounts.create_user("bob", is_owner=False)).id
        bob_connection = await _account_for(store, bob)
        await _webhook(store, alice, alice_connection)
        await _webhook(store, bob, bob_connection)
        await store.queue.ingest([NewEvent(alice_connection.id, "message", b"{}")],
                                 claim_lease_ms=60_000)
        await store.queue.ingest(
            [NewEvent(bob_connection.id, "message", b"{}")] * 3, claim_lease_ms=None
        )
        (claimed,) = await store.queue.claim_due(1, 60_000)  # one of bob's (alice's is held)
        await store.queue.record_outcomes([
            RecordedOutcome(claimed.delivery_id, 1, _outcome(500), DeliveryStatus.FAILED, None)
        ])
        await asyncio.sleep(0.05)
        mine = await store.deliveries.account_queue_depth(alice)
        assert mine.by_status == {
            DeliveryStatus.PENDING: 1, DeliveryStatus.DELIVERED: 0, DeliveryStatus.FAILED: 0,
            DeliveryStatus.HELD: 0,
        }
        assert (mine.leased, mine.oldest_due_age_ms) == (1, 0)  # leased: not waiting
        theirs = await store.deliveries.account_queue_depth(bob)
        assert theirs.by_status == {
            DeliveryStatus.PENDING: 2, DeliveryStatus.DELIVERED: 0, DeliveryStatus.FAILED: 1,
            DeliveryStatus.HELD: 0,
        }
        assert theirs.leased == 0 and theirs.oldest_due_age_ms >= 50
        nobody = await store.deliveries.account_queue_depth(uuid7())
        assert nobody.by_status == dict.fromkeys(DeliveryStatus, 0) and nobody.leased == 0
        whole = await store.queue.queue_depth()
        assert whole.by_status[DeliveryStatus.PENDING] == 3 and whole.leased == 1

    run(scenario)


def test_expired_leases_log_an_interrupted_attempt_and_become_due(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        (jobs,) = await store.queue.ingest([NewEvent(connection.id, "test", b"{}")],
                                           claim_lease_ms=200, only_webhook=webhook.id)
        assert await store.queue.recover_expired_leases() == 0
        assert await store.queue.claim_due(10, 60_000) == []  # held by the lease
        await asyncio.sleep(0.22)
        assert await store.queue.recover_expired_leases() == 1

        (log,) = await store.deliveries.list_deliveries(webhook.id)
        assert [(a.number, a.error, a.trigger) for a in log.attempt_log] == [
            (1, INTERRUPTED, Trigger.TEST)
        ]
        (retry,) = await store.queue.claim_due(10, 60_000)
        assert retry.delivery_id == jobs[0].delivery_id and retry.attempt == 2
        assert retry.trigger is Trigger.SCHEDULED  # a retry after the interruption

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
        (test_jobs,) = await store.queue.ingest(
            [NewEvent(connection.id, "x", b"{}")], claim_lease_ms=60_000, only_webhook=webhook.id
        )
        assert [job.account_id for job in test_jobs] == [user_id]
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


def test_users_and_tokens_are_found_by_id_and_touched(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        user = await store.accounts.create_user("bob", is_owner=False)
        assert await store.accounts.get_user(user.id) == user
        assert await store.accounts.get_user(uuid7()) is None
        token = await store.accounts.create_token(user.id, "ci", "t" * 64, "wh_abcdefg...")
        assert await store.accounts.get_token(token.id) == token
        await store.accounts.touch_token(token.id, 1_700_000_000_123)
        touched = await store.accounts.get_token(token.id)
        assert touched is not None and touched.last_used_at == 1_700_000_000_123
        await store.accounts.revoke_token(token.id)
        revoked = await store.accounts.get_token(token.id)
        assert revoked is not None and not revoked.active  # kept, for the audit of who used it
        assert await store.accounts.get_token(uuid7()) is None

    run(scenario)


def test_users_are_found_by_name_oldest_first(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        assert await store.accounts.user_named("carol") is None
        first = await store.accounts.create_user("carol", is_owner=False)
        await store.accounts.create_user("dave", is_owner=False)
        assert await store.accounts.user_named("carol") == first
        assert await store.accounts.user_named("Carol") is None  # names are compared exactly

    run(scenario)


def test_connections_are_listed_per_owner_newest_first_without_stopped_ones(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, first = await _account(store)
        second = await _account_for(store, user_id)
        other = await _account_for(store, (await store.accounts.create_user("eve", is_owner=False)).id)
        assert await store.connections.get_connection(first.id) == first
        assert await store.connections.get_connection(uuid7()) is None
        stopped = await store.connections.set_connection_status(second.id, ConnectionStatus.STOPPED)

        assert await store.connections.list_connections(user_id) == [first]
        assert await store.connections.list_connections(user_id, include_stopped=True) == [
            stopped, first,
        ]
        everyone = await store.connections.list_connections(include_stopped=True)
        assert [c.id for c in everyone] == [other.id, second.id, first.id]

    run(scenario)


def test_webhooks_are_listed_per_connection_in_creation_order(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        elsewhere = await _account_for(store, user_id)
        first = await _webhook(store, user_id, connection, ("message",))
        second = await _webhook(store, user_id, connection, ("*",), active=False)
        await _webhook(store, user_id, elsewhere)
        assert await store.webhooks.list_webhooks(connection.id) == [first, second]
        assert await store.webhooks.list_webhooks(uuid7()) == []

    run(scenario)


def test_a_rotated_secret_keeps_the_previous_one_signing_until_it_expires(
    run: Callable[[Scenario], None],
) -> None:
    """The previous secret and its expiry reach every job (ingested, test-targeted and claimed),
    so the sender signs with no query of its own (docs/signatures.md)."""

    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        until = now_ms() + 3_600_000

        rotated = await store.webhooks.rotate_secret(webhook.id, "n" * 64, until)

        assert (rotated.signing_secret, rotated.previous_secret) == ("n" * 64, "s" * 64)
        assert rotated.previous_secret_expires_at == until
        assert await store.webhooks.get_webhook(webhook.id) == rotated
        (ingested,) = await store.queue.ingest(
            [NewEvent(connection.id, "message", b"{}")], claim_lease_ms=60_000
        )
        (tested,) = await store.queue.ingest(
            [NewEvent(connection.id, "test", b"{}")], claim_lease_ms=None, only_webhook=webhook.id
        )
        (claimed,) = await store.queue.claim_due(10, 60_000)
        assert claimed.delivery_id == tested[0].delivery_id
        for job in (*ingested, *tested, claimed):
            assert (job.signing_secret, job.previous_secret) == ("n" * 64, "s" * 64)
            assert job.previous_secret_expires_at == until
        # A second rotation ends the first overlap: the secret it replaces becomes the previous.
        again = await store.webhooks.rotate_secret(webhook.id, "m" * 64, until + 1)
        assert (again.signing_secret, again.previous_secret) == ("m" * 64, "n" * 64)
        with pytest.raises(NotFound):
            await store.webhooks.rotate_secret(uuid7(), "x" * 64, until)

    run(scenario)


def test_waha_sessions_are_saved_replaced_listed_and_deleted(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        other = await _account_for(store, user_id)
        b = WahaSession(connection.id, "b_session", "http://127.0.0.1:3000", "k1", 1)
        a = WahaSession(other.id, "a_session", "http://127.0.0.1:3001", "k2", 2)
        await store.waha_sessions.save_waha_session(b)
        await store.waha_sessions.save_waha_session(a)
        moved = WahaSession(connection.id, "b_session", "http://127.0.0.1:3002", "k3", 3)
        await store.waha_sessions.save_waha_session(moved)  # the same session, on another server

        assert await store.waha_sessions.get_waha_session("b_session") == moved
        assert await store.waha_sessions.list_waha_sessions() == [a, moved]
        await store.waha_sessions.delete_waha_session("a_session")
        assert await store.waha_sessions.get_waha_session("a_session") is None
        assert await store.waha_sessions.list_waha_sessions() == [moved]

    run(scenario)


def _keyed(connection: Connection, session: str, event_id: str, *, at_ms: int = 1_000_000,
           event_type: str = "message") -> NewEvent:
    return NewEvent(connection.id, event_type, b"{}", replay_key=ReplayKey(session, event_id, at_ms))


def _taken(per_event: list[list[DeliveryJob] | None]) -> list[int | None]:
    """Each event's number of deliveries; None for an event skipped as repeated."""
    return [None if jobs is None else len(jobs) for jobs in per_event]


def test_an_event_with_a_replay_key_is_taken_once_per_session_and_id(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection, ("message",))
        (first,) = await store.queue.ingest([_keyed(connection, "s1", "evt_1")], claim_lease_ms=None)
        assert first is not None and len(first) == 1
        # WAHA's retry, or a replay: skipped and reported as such.
        assert await store.queue.ingest([_keyed(connection, "s1", "evt_1")], claim_lease_ms=None) \
            == [None]
        # The same id in another session is another event.
        (other,) = await store.queue.ingest([_keyed(connection, "s2", "evt_1")], claim_lease_ms=None)
        assert other is not None and len(other) == 1
        # The same key twice in one transaction is taken once.
        twice = await store.queue.ingest(
            [_keyed(connection, "s1", "evt_2"), _keyed(connection, "s1", "evt_2")],
            claim_lease_ms=60_000,
        )
        assert twice[0] is not None and twice[1] is None
        # And twice at once, from two callers (one group commit on PostgreSQL).
        racing = await asyncio.gather(*(
            store.queue.ingest([_keyed(connection, "s1", "evt_3")], claim_lease_ms=None)
            for _ in range(2)
        ))
        assert sorted(result == [None] for result in racing) == [False, True]
        # A keyed event no webhook wants takes its key all the same.
        assert await store.queue.ingest(
            [_keyed(connection, "s1", "evt_4", event_type="presence.update")], claim_lease_ms=None
        ) == [[]]
        assert await store.queue.ingest(
            [_keyed(connection, "s1", "evt_4", event_type="presence.update")], claim_lease_ms=None
        ) == [None]
        # Events without a key are never skipped.
        unkeyed = NewEvent(connection.id, "message", b"{}")
        assert None not in await store.queue.ingest([unkeyed, unkeyed], claim_lease_ms=None)
        assert len(await store.deliveries.list_deliveries(webhook.id)) == 6

    run(scenario)


def test_waha_event_ids_are_pruned_by_age(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        await _webhook(store, user_id, connection)
        await store.queue.ingest(
            [_keyed(connection, "s1", "evt_1", at_ms=1_000_000),
             _keyed(connection, "s2", "evt_1", at_ms=2_000_000)], claim_lease_ms=None,
        )
        assert await store.waha_sessions.prune_waha_events(1500.0) == 1  # s1's, received at 1000 s
        assert _taken(await store.queue.ingest(
            [_keyed(connection, "s1", "evt_1"), _keyed(connection, "s2", "evt_1")],
            claim_lease_ms=None,
        )) == [1, None]  # s2's was received after the cutoff: still remembered

    run(scenario)


_REFUSE_EVENTS = {
    # The events table itself refuses the row: a real failure after the key was taken.
    "sqlite": [
        "CREATE TRIGGER refuse_event BEFORE INSERT ON events WHEN NEW.event_type = 'refused'"
        " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    ],
    "postgres": [
        "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.event_type = 'refused' THEN RAISE EXCEPTION 'refused by the test'; END IF;"
        " RETURN NEW; END $$",
        "CREATE TRIGGER refuse_event BEFORE INSERT ON events FOR EACH ROW"
        " EXECUTE FUNCTION refuse_event()",
    ],
}


async def _execute(store: Store, statements: dict[str, list[str]]) -> None:
    if isinstance(store, SqliteStorage):
        for statement in statements["sqlite"]:
            await store.database.write(lambda c, s=statement: c.execute(s))
    else:
        for statement in statements["postgres"]:
            await store.database.run(lambda c, s=statement: c.execute(s))


def test_an_ingest_that_fails_leaves_its_replay_keys_free(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        await _execute(store, _REFUSE_EVENTS)
        refused = _keyed(connection, "s1", "evt_1", event_type="refused")
        # Its neighbour in the same group commit is stored all the same.
        failed, stored = await asyncio.gather(
            store.queue.ingest([refused], claim_lease_ms=None),
            store.queue.ingest([_keyed(connection, "s1", "evt_2")], claim_lease_ms=None),
            return_exceptions=True,
        )
        assert isinstance(failed, Exception) and "refused by the test" in str(failed)
        assert not isinstance(stored, BaseException) and _taken(stored) == [1]
        await _execute(store, {"sqlite": ["DROP TRIGGER refuse_event"],
                               "postgres": ["DROP TRIGGER refuse_event ON events"]})
        # The engine's retry: the key was never taken, so it goes through; evt_2's was.
        assert _taken(await store.queue.ingest(
            [refused, _keyed(connection, "s1", "evt_2")], claim_lease_ms=None
        )) == [1, None]
        assert len(await store.deliveries.list_deliveries(webhook.id)) == 2

    run(scenario)


def test_exclusive_jobs_and_worker_heartbeats(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        await store.ping()
        async with (
            store.processes.exclusive("reconcile") as first,
            store.processes.exclusive("reconcile") as second,
        ):
            assert first
            # One process on a SQLite file: nobody else can want the job.
            assert second is store.single_process
        async with store.processes.exclusive("reconcile") as again:
            assert again
        await store.processes.heartbeat("worker-1")
        await store.processes.heartbeat("worker-1")
        # SQLite's one process knows its own dispatcher runs: it counts no separate workers.
        assert await store.processes.live_workers(60_000) == (0 if store.single_process else 1)
        beats = await store.processes.worker_beats(60_000)
        if store.single_process:
            assert beats == []
        else:
            (beat,) = beats
            assert beat.worker_id == "worker-1" and beat.started_at <= beat.seen_at

    run(scenario)


def test_due_deliveries_left_by_another_process_are_announced(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        await _webhook(store, user_id, connection)
        calls: asyncio.Queue[None] = asyncio.Queue()
        store.queue.listen_due(lambda: calls.put_nowait(None))
        if store.single_process:
            return  # nothing to listen to: the one process wakes its dispatcher directly
        await asyncio.wait_for(calls.get(), 30)  # listening: one call to catch up
        await store.queue.ingest([NewEvent(connection.id, "message", b"{}")], claim_lease_ms=None)
        await asyncio.wait_for(calls.get(), 30)  # the NOTIFY of the unclaimed delivery

    run(scenario)


def test_live_events_fan_out_across_processes(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        if store.live is None:
            assert store.single_process  # one process serves every WebSocket: no fan-out
            return
        user_id = (await store.accounts.create_user("alice", is_owner=True)).id
        await store.live.announce_live_listeners("process-1", [user_id])
        assert await store.live.live_listener_accounts("process-2", 60_000) == {user_id}
        assert await store.live.live_listener_accounts("process-1", 60_000) == set()
        await store.live.announce_live_listeners("process-1", [])
        assert await store.live.live_listener_accounts("process-2", 60_000) == set()

        stash_id = await store.live.stash_live_event(b"x" * 10_000)
        assert await store.live.stashed_live_event(stash_id) == b"x" * 10_000
        assert await store.live.stashed_live_event(stash_id + 1) is None

        listening = asyncio.Event()
        payloads: asyncio.Queue[str] = asyncio.Queue()
        store.live.listen("wahooks_contract", payloads.put_nowait, on_connect=listening.set)
        await asyncio.wait_for(listening.wait(), 30)
        await store.live.notify("wahooks_contract", "hello")
        assert await asyncio.wait_for(payloads.get(), 30) == "hello"

    run(scenario)


def test_attempts_keep_their_detail_and_the_trigger_that_made_them(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        (jobs,) = await store.queue.ingest(
            [NewEvent(connection.id, "test", b"{}")], claim_lease_ms=None, only_webhook=webhook.id
        )
        (first,) = await store.queue.claim_due(10, 60_000)
        assert first.trigger is Trigger.TEST
        sent = SentRequest(1_700_000_000, "sha256=ab", "v1,cd v1,ef", "hooks.example:8443",
                           "wahooks/test")
        answer = AttemptOutcome(
            now_ms(), 2.5, 503, "HTTP 503: busy", ErrorClass.HTTP_STATUS, 1.0, "busy",
            (("content-type", "text/plain"), ("retry-after", "1")), sent,
        )
        await store.queue.record_outcomes([
            RecordedOutcome(first.delivery_id, 1, answer, DeliveryStatus.PENDING, 0, first.trigger)
        ])
        (retry,) = await store.queue.claim_due(10, 60_000)
        assert retry.trigger is Trigger.SCHEDULED  # every retry is scheduled, whatever began it
        await store.queue.record_outcomes([RecordedOutcome(
            retry.delivery_id, 2, AttemptOutcome(now_ms(), 1.0, None, "refused",
                                                 ErrorClass.CONNECT_REFUSED),
            DeliveryStatus.FAILED, None, retry.trigger,
        )])
        assert await store.deliveries.redeliver(webhook.id, None) == [jobs[0].delivery_id]
        (manual,) = await store.queue.claim_due(10, 60_000)
        assert manual.trigger is Trigger.MANUAL

        log = await store.deliveries.get_delivery(jobs[0].delivery_id)
        assert log is not None
        one, two = log.attempt_log
        assert (one.trigger, one.error_class, one.response_body) == (
            Trigger.TEST, ErrorClass.HTTP_STATUS, "busy"
        )
        assert one.response_headers == (("content-type", "text/plain"), ("retry-after", "1"))
        assert (two.trigger, two.error_class, two.status_code, two.response_headers) == (
            Trigger.SCHEDULED, ErrorClass.CONNECT_REFUSED, None, ()
        )
        # The request headers come back whole, rebuilt from the parts stored and the delivery.
        delivery_id = jobs[0].delivery_id
        assert one.request_headers == (
            ("Host", "hooks.example:8443"), ("User-Agent", "wahooks/test"),
            ("Connection", "keep-alive"), ("Content-Type", "application/json"),
            ("X-WAHooks-Signature", "sha256=ab"), ("X-WAHooks-Timestamp", "1700000000"),
            ("X-WAHooks-Event", "test"), ("webhook-id", delivery_id),
            ("webhook-timestamp", "1700000000"), ("webhook-signature", "v1,cd v1,ef"),
            ("X-WAHooks-Delivery", delivery_id), ("X-WAHooks-Attempt", "1"),
            ("Content-Length", "2"),
        )
        assert two.request_headers is None  # none recorded (the target refused, an old attempt)

    run(scenario)


def test_logs_filter_by_event_type_time_and_status_class(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        ids = []
        for event_type, status in (("message", 200), ("presence.update", 404), ("message", None)):
            (jobs,) = await store.queue.ingest(
                [NewEvent(connection.id, event_type, b"{}")], claim_lease_ms=60_000
            )
            ids.append(jobs[0].delivery_id)
            verdict = DeliveryStatus.DELIVERED if status == 200 else DeliveryStatus.FAILED
            await store.queue.record_outcomes([
                RecordedOutcome(ids[-1], 1, _outcome(status, None if status == 200 else "x"),
                                verdict, None)
            ])
            await asyncio.sleep(0.002)  # distinct event times, for the window bounds
        (jobs,) = await store.queue.ingest(  # never attempted: in no status class
            [NewEvent(connection.id, "message", b"{}")], claim_lease_ms=None
        )
        ids.append(jobs[0].delivery_id)

        async def found(**filters: object) -> list[str]:
            logs = await store.deliveries.list_deliveries(webhook.id, **filters)  # type: ignore[arg-type]
            return [log.id for log in logs]

        assert await found(event_type="message") == [ids[3], ids[2], ids[0]]
        assert await found(status_class="2xx") == [ids[0]]
        assert await found(status_class="4xx") == [ids[1]]
        assert await found(status_class="5xx") == []
        assert await found(status_class="none") == [ids[2]]
        middle = await store.deliveries.get_delivery(ids[1])
        assert middle is not None
        assert await found(since=middle.created_at) == [ids[3], ids[2], ids[1]]
        assert await found(until=middle.created_at) == [ids[0]]
        assert await found(since=middle.created_at, until=middle.created_at + 1) == [ids[1]]
        assert await found(event_type="message", status=DeliveryStatus.FAILED) == [ids[2]]

    run(scenario)


def test_recovery_queues_never_delivered_dead_letters_of_a_window_in_event_order(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        other = await _webhook(store, user_id, connection)
        start = now_ms()
        ids = []
        for _ in range(4):
            (jobs,) = await store.queue.ingest(
                [NewEvent(connection.id, "message", b"{}")], claim_lease_ms=60_000
            )
            mine = next(job for job in jobs if job.webhook_id == webhook.id)
            ids.append(mine.delivery_id)
            await store.queue.record_outcomes([
                RecordedOutcome(job.delivery_id, 1, _outcome(500, "no"), DeliveryStatus.FAILED,
                                None)
                for job in jobs
            ])
        # The first succeeded once (a redelivery of it failed since): never recovered.
        await store.deliveries.redeliver(webhook.id, [ids[0]])
        (manual,) = [job for job in await store.queue.claim_due(10, 60_000)]
        await store.queue.record_outcomes([
            RecordedOutcome(ids[0], 2, _outcome(200), DeliveryStatus.DELIVERED, None)
        ])
        await store.deliveries.redeliver(webhook.id, [ids[0]])
        await store.queue.claim_due(10, 60_000)
        await store.queue.record_outcomes([
            RecordedOutcome(ids[0], 3, _outcome(500, "no"), DeliveryStatus.FAILED, None)
        ])
        assert manual.delivery_id == ids[0]
        end = now_ms() + 1

        assert await store.deliveries.recover(webhook.id, end, end + 1000, 10) == []
        assert await store.deliveries.recover(webhook.id, start, end, 2) is None  # 3 > 2
        assert await store.queue.claim_due(10, 60_000) == []  # refused whole: nothing changed
        assert await store.deliveries.recover(webhook.id, start, end, 3) == ids[1:]

        claimed = await store.queue.claim_due(1, 60_000)
        claimed += await store.queue.claim_due(1, 60_000)
        claimed += await store.queue.claim_due(10, 60_000)
        assert [job.delivery_id for job in claimed] == ids[1:]  # in event order
        assert all(job.trigger is Trigger.RECOVER and job.attempt == 2 for job in claimed)
        assert all(job.attempts_before_cycle == 1 for job in claimed)
        assert await store.deliveries.list_deliveries(other.id, status=DeliveryStatus.PENDING) == []

    run(scenario)


def test_a_410_disables_the_webhook_holds_its_deliveries_and_enabling_replays_them(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        other = await _webhook(store, user_id, connection)
        (first,) = await store.queue.ingest(
            [NewEvent(connection.id, "message", b'{"n":0}')], claim_lease_ms=60_000
        )
        (waiting,) = await store.queue.ingest(
            [NewEvent(connection.id, "message", b'{"n":1}')], claim_lease_ms=None
        )
        gone = next(job for job in first if job.webhook_id == webhook.id)
        fine = next(job for job in first if job.webhook_id == other.id)
        changes = (await store.queue.record_outcomes([
            RecordedOutcome(gone.delivery_id, 1, _outcome(410, "HTTP 410"),
                            DeliveryStatus.PENDING, 1000, webhook_id=webhook.id),
            RecordedOutcome(fine.delivery_id, 1, _outcome(204), DeliveryStatus.DELIVERED, None,
                            webhook_id=other.id),
        ])).changes
        assert [(c.webhook_id, c.disabled_reason) for c in changes] == [
            (webhook.id, DisabledReason.GONE)
        ]
        disabled = await store.webhooks.get_webhook(webhook.id)
        assert disabled is not None and disabled.active and not disabled.enabled
        assert disabled.disabled_reason is DisabledReason.GONE and disabled.disabled_at
        # The 410's delivery and the one waiting for its first attempt are held, and so is the
        # next event; the other webhook is untouched.
        (later,) = await store.queue.ingest(
            [NewEvent(connection.id, "message", b'{"n":2}')], claim_lease_ms=60_000
        )
        assert [job.webhook_id for job in later] == [other.id]
        held = await store.deliveries.list_deliveries(webhook.id, status=DeliveryStatus.HELD)
        assert [log.body for log in held] == [b'{"n":2}', b'{"n":1}', b'{"n":0}']
        assert all(log.next_attempt_at is None for log in held)
        health = await store.webhooks.webhook_health(webhook.id, now_ms() - 60_000)
        assert health is not None and health.held == 3 and health.attempts_24h == 1
        assert health.last_failure_at is not None and health.last_success_at is None
        assert health.success_rate_24h == 0
        assert [job.webhook_id for job in await store.queue.claim_due(10, 60_000)] == [
            job.webhook_id for job in waiting if job.webhook_id == other.id
        ]

        enabled = await store.webhooks.update_webhook(webhook.id, active=True)
        assert enabled.enabled and enabled.disabled_reason is None
        replayed = await store.queue.claim_due(10, 60_000)
        assert [job.body for job in replayed] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
        assert {job.trigger for job in replayed} == {Trigger.REPLAY}
        assert [job.attempt - job.attempts_before_cycle for job in replayed] == [1, 1, 1]
        health = await store.webhooks.webhook_health(webhook.id, now_ms() - 60_000)
        assert health is not None and health.held == 0

    run(scenario)


async def _ordered(store: Store) -> tuple[Connection, Webhook, Webhook]:
    """A connection with a webhook ordered per chat and an unordered one."""
    user_id, connection = await _account(store)
    ordered = await _webhook(store, user_id, connection)
    ordered = await store.webhooks.update_webhook(ordered.id, ordering=Ordering.CHAT)
    return connection, ordered, await _webhook(store, user_id, connection)


def _message(connection: Connection, chat: str | None) -> NewEvent:
    return NewEvent(connection.id, "message", b"{}", chat)


async def _finish(store: Store, job: DeliveryJob, status: DeliveryStatus) -> None:
    retry_in = 0 if status is DeliveryStatus.PENDING else None
    code = 200 if status is DeliveryStatus.DELIVERED else 500
    await store.queue.record_outcomes([
        RecordedOutcome(job.delivery_id, job.attempt, _outcome(code),
                        status, retry_in, job.trigger, job.webhook_id, job.order_key)
    ])


def test_an_ordered_webhooks_chat_goes_one_delivery_at_a_time_in_event_order(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        connection, ordered, unordered = await _ordered(store)
        assert (await store.webhooks.get_webhook(ordered.id)).ordering is Ordering.CHAT  # type: ignore[union-attr]
        per_event = await store.queue.ingest(
            [_message(connection, "a@c.us"), _message(connection, "b@c.us"),
             _message(connection, "a@c.us"), _message(connection, None),
             _message(connection, "a@c.us")],
            claim_lease_ms=60_000,
        )
        mine = [next(j for j in jobs if j.webhook_id == ordered.id) for jobs in per_event]
        a1, b1, a2, none, a3 = mine
        # The first of each chat (and of the events without one) is claimed at ingest; the
        # others wait their turn. The unordered webhook's are all claimed.
        assert [job.attempt for job in mine] == [1, 1, 0, 1, 0]
        assert [job.order_key for job in mine] == [
            line_key(ordered.id, chat) for chat in ("a@c.us", "b@c.us", "a@c.us", None, "a@c.us")
        ]
        assert all(j.attempt == 1 and j.order_key is None
                   for jobs in per_event for j in jobs if j.webhook_id == unordered.id)
        assert await store.queue.claim_due(10, 60_000) == []

        await _finish(store, a1, DeliveryStatus.PENDING)  # a retry: still a1's turn
        (again,) = await store.queue.claim_due(10, 60_000)
        assert again.delivery_id == a1.delivery_id and again.order_key == a1.order_key
        await _finish(store, again, DeliveryStatus.DELIVERED)
        (second,) = await store.queue.claim_due(10, 60_000)
        assert second.delivery_id == a2.delivery_id
        await _finish(store, second, DeliveryStatus.FAILED)  # a dead letter ends its turn too
        (third,) = await store.queue.claim_due(10, 60_000)
        assert third.delivery_id == a3.delivery_id
        # A chat with nothing pending: the next event's delivery goes at once.
        await _finish(store, third, DeliveryStatus.DELIVERED)
        await _finish(store, b1, DeliveryStatus.DELIVERED)
        (later,) = await store.queue.ingest([_message(connection, "a@c.us")], claim_lease_ms=None)
        assert [job.delivery_id for job in await store.queue.claim_due(10, 60_000)] == [
            job.delivery_id for job in later
        ]
        assert none.attempt == 1

    run(scenario)


async def _settled(
    store: Store, connection: Connection, webhook: Webhook, rule: DisableRule,
    statuses: tuple[DeliveryStatus, ...],
) -> tuple[list[str], WrittenOutcomes]:
    """One message event per status, each delivery's one attempt recorded with that status in
    one outcome batch (a 204 for DELIVERED, a 500 otherwise): their ids and what the write did."""
    jobs = [
        (await store.queue.ingest(
            [NewEvent(connection.id, "message", b"{}")], claim_lease_ms=60_000
        ))[0][0]
        for _ in statuses
    ]
    written = await store.queue.record_outcomes([
        RecordedOutcome(
            job.delivery_id, 1,
            _outcome(204 if status is DeliveryStatus.DELIVERED else 500), status, None,
            webhook_id=webhook.id,
        )
        for job, status in zip(jobs, statuses, strict=True)
    ], disable=rule)
    return [job.delivery_id for job in jobs], written


def test_a_failing_period_with_enough_dead_letters_disables_and_a_success_resets(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        rule = DisableRule(after_ms=0, min_dead_letters=2)

        async def settle(*statuses: DeliveryStatus) -> list[WebhookStateChange]:
            _, written = await _settled(store, connection, webhook, rule, statuses)
            return written.changes

        # A dead letter, then a success, then one more dead letter: never two in a row.
        assert await settle(DeliveryStatus.FAILED, DeliveryStatus.DELIVERED) == []
        assert await settle(DeliveryStatus.FAILED) == []
        health = await store.webhooks.webhook_health(webhook.id, 0)
        assert health is not None and health.consecutive_dead_letters == 1
        assert health.failing_since is not None and health.last_success_at is not None
        (change,) = await settle(DeliveryStatus.FAILED)
        assert change.disabled_reason is DisabledReason.FAILING
        assert change.user_id == user_id and change.connection_id == connection.id
        # The dead letter that disabled it is held, to be replayed with the rest.
        held = await store.deliveries.list_deliveries(webhook.id, status=DeliveryStatus.HELD)
        assert len(held) == 1
        off = await store.webhooks.update_webhook(webhook.id, active=False)
        assert not off.active and off.disabled_reason is None  # now switched off by hand
        assert len(await store.deliveries.list_deliveries(
            webhook.id, status=DeliveryStatus.HELD)) == 1  # kept until it is on again
        (jobs,) = await store.queue.ingest(
            [NewEvent(connection.id, "message", b"{}")], claim_lease_ms=60_000
        )
        assert jobs == [] and len(await store.deliveries.list_deliveries(webhook.id)) == 4

    run(scenario)


def test_a_batch_of_successes_alone_ends_the_failing_streak_and_settles_every_delivery(
    run: Callable[[Scenario], None],
) -> None:
    """The batch most written (PostgreSQL writes it in one statement, health with outcomes)."""

    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        rule = DisableRule(after_ms=0, min_dead_letters=5)

        async def settle(*statuses: DeliveryStatus) -> list[str]:
            ids, written = await _settled(store, connection, webhook, rule, statuses)
            assert written.changes == [] and written.next_jobs == []
            return ids

        await settle(DeliveryStatus.FAILED, DeliveryStatus.FAILED)
        failing = await store.webhooks.webhook_health(webhook.id, 0)
        assert failing is not None and failing.consecutive_dead_letters == 2
        assert failing.failing_since is not None and failing.last_success_at is None
        before = now_ms()
        delivered = await settle(DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED)
        health = await store.webhooks.webhook_health(webhook.id, 0)
        assert health is not None
        assert (health.consecutive_dead_letters, health.failing_since) == (0, None)
        assert health.last_success_at is not None and health.last_success_at >= before
        assert (health.attempts_24h, health.successes_24h) == (4, 2)
        settled = await store.deliveries.list_deliveries(
            webhook.id, status=DeliveryStatus.DELIVERED
        )
        assert sorted(d.id for d in settled) == sorted(delivered)

    run(scenario)


def test_the_held_cap_drops_the_oldest_held_and_counts_them(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        user_id, connection = await _account(store)
        webhook = await _webhook(store, user_id, connection)
        (jobs,) = await store.queue.ingest(
            [NewEvent(connection.id, "message", b'{"n":0}')], claim_lease_ms=60_000
        )
        await store.queue.record_outcomes([
            RecordedOutcome(jobs[0].delivery_id, 1, _outcome(410), DeliveryStatus.FAILED, None,
                            webhook_id=webhook.id),
        ])
        for number in range(1, 5):
            await store.queue.ingest(
                [NewEvent(connection.id, "message", b'{"n":%d}' % number)], claim_lease_ms=None
            )
        counts = await store.retention.prune(
            delivered_max_age_ms=3_600_000, delivered_kept=10, dead_letters_kept=1, held_kept=2
        )
        assert counts.held == 3 and counts.dead_letters == 0
        held = await store.deliveries.list_deliveries(webhook.id, status=DeliveryStatus.HELD)
        assert [log.body for log in held] == [b'{"n":4}', b'{"n":3}']
        health = await store.webhooks.webhook_health(webhook.id, 0)
        assert health is not None and (health.held, health.held_dropped) == (2, 3)

    run(scenario)


def test_redelivered_and_recovered_dead_letters_of_a_chat_go_after_what_is_pending(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        connection, ordered, _ = await _ordered(store)
        start = now_ms()
        jobs = [
            next(j for j in event if j.webhook_id == ordered.id)
            for event in await store.queue.ingest(
                [_message(connection, "a@c.us") for _ in range(4)], claim_lease_ms=60_000
            )
        ]
        await _finish(store, jobs[0], DeliveryStatus.FAILED)
        (second,) = await store.queue.claim_due(10, 60_000)
        await _finish(store, second, DeliveryStatus.FAILED)
        (third,) = await store.queue.claim_due(10, 60_000)  # jobs[2], in flight
        assert third.delivery_id == jobs[2].delivery_id

        assert await store.deliveries.redeliver(ordered.id, [jobs[0].delivery_id]) == [
            jobs[0].delivery_id
        ]
        assert await store.queue.claim_due(10, 60_000) == []  # jobs[2] still has the turn
        assert await store.deliveries.recover(ordered.id, start, now_ms() + 1, 10) == [
            jobs[1].delivery_id
        ]
        assert await store.queue.claim_due(10, 60_000) == []
        order = []
        job = third
        for _ in range(3):
            await _finish(store, job, DeliveryStatus.DELIVERED)
            (job,) = await store.queue.claim_due(10, 60_000)
            order.append(job.delivery_id)
        # After what was pending (jobs[3]), in the order they were queued again.
        assert order == [jobs[3].delivery_id, jobs[0].delivery_id, jobs[1].delivery_id]
        await _finish(store, job, DeliveryStatus.DELIVERED)
        assert await store.queue.claim_due(10, 60_000) == []
        # With nothing pending, redelivering all dead letters lets the first go at once.
        assert await store.deliveries.redeliver(ordered.id, None) == []

    run(scenario)


def test_webhook_changes_reach_every_listener(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        heard: list[WebhookStateChange] = []
        store.webhook_changes.listen(heard.append)
        change = WebhookStateChange("w", "u", "c", DisabledReason.GONE, 1)
        store.webhook_changes.emit([change])
        assert heard == [change]

    run(scenario)


def test_an_expired_lease_keeps_its_chats_turn(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        connection, ordered, _ = await _ordered(store)

        async def claimed() -> list[str]:
            jobs = await store.queue.claim_due(10, 60_000)
            return [job.delivery_id for job in jobs if job.webhook_id == ordered.id]

        first, second = (
            next(j for j in event if j.webhook_id == ordered.id)
            for event in await store.queue.ingest(
                [_message(connection, "a@c.us"), _message(connection, "a@c.us")],
                claim_lease_ms=1,
            )
        )
        await asyncio.sleep(0.01)
        assert await store.queue.recover_expired_leases(all_leases=True) >= 1
        assert await claimed() == [first.delivery_id]
        await store.queue.release([first.delivery_id])  # handed back unsent: still its turn
        assert await claimed() == [first.delivery_id]
        await _finish(store, dataclasses.replace(first, attempt=2), DeliveryStatus.DELIVERED)
        assert await claimed() == [second.delivery_id]
        # Unordered again: events from now on go on their own; the line still drains in order.
        await store.webhooks.update_webhook(ordered.id, ordering=Ordering.NONE)
        (later,) = await store.queue.ingest([_message(connection, "a@c.us")], claim_lease_ms=None)
        later = [job for job in later if job.webhook_id == ordered.id]
        assert later[0].order_key is None
        assert await claimed() == [later[0].delivery_id]

    run(scenario)


def _aggregate_methods(storage: object) -> set[tuple[str, str]]:
    """(aggregate, method) for every public method of every aggregate the storage bundles."""
    return {
        (name, method)
        for name, aggregate in vars(storage).items()
        if name != "database" and aggregate is not None
        for method, _ in inspect.getmembers(type(aggregate), inspect.isfunction)
        if not method.startswith("_")
    }


def test_every_storage_method_has_a_contract_scenario(tmp_path: Path) -> None:
    sqlite = _aggregate_methods(SqliteStorage(str(tmp_path / "unopened.db")))
    postgres = _aggregate_methods(PostgresStorage("postgresql://127.0.0.1/unopened"))
    # The same operations on both backends; only PostgreSQL fans live events out to other processes.
    assert postgres - sqlite == {m for m in postgres if m[0] == "live"}
    assert sqlite - postgres == set()
    called = set(re.findall(r"store\.(\w+)\.(\w+)\(", Path(__file__).read_text("utf-8")))
    assert sorted(postgres - called) == []


def test_replay_of_an_ordered_webhook_keeps_each_chats_order(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        connection, ordered, _ = await _ordered(store)

        async def claimed() -> list[str]:
            jobs = await store.queue.claim_due(10, 60_000)
            return sorted(job.delivery_id for job in jobs if job.webhook_id == ordered.id)

        def mine(per_event: list[list[DeliveryJob]]) -> list[DeliveryJob]:
            return [next(j for j in jobs if j.webhook_id == ordered.id) for jobs in per_event]

        (a1, a2) = mine(await store.queue.ingest(
            [_message(connection, "a@c.us"), _message(connection, "a@c.us")],
            claim_lease_ms=60_000,
        ))
        # a1's endpoint answers 410: the webhook is disabled, a1 and the waiting a2 are held.
        await store.queue.record_outcomes([
            RecordedOutcome(a1.delivery_id, 1, _outcome(410, "HTTP 410"), DeliveryStatus.PENDING,
                            1000, a1.trigger, ordered.id, a1.order_key)
        ])
        per_event = await store.queue.ingest(
            [_message(connection, "b@c.us"), _message(connection, "a@c.us"),
             _message(connection, "b@c.us")],
            claim_lease_ms=60_000,
        )
        # Stored and held: nothing of it is handed out (the unordered webhook's are).
        assert [[job.webhook_id for job in jobs] for jobs in per_event] == [
            [jobs[0].webhook_id] for jobs in per_event
        ] and all(jobs[0].webhook_id != ordered.id for jobs in per_event)
        held = await store.deliveries.list_deliveries(ordered.id, status=DeliveryStatus.HELD)
        assert len(held) == 5 and await claimed() == []
        by_body_order = [log.id for log in reversed(held)]  # event order
        a1_id, a2_id, b1_id, a3_id, b2_id = by_body_order
        assert (a1_id, a2_id) == (a1.delivery_id, a2.delivery_id)

        await store.webhooks.update_webhook(ordered.id, active=True)
        # Each chat's first goes; the rest wait their turn, in event order.
        first = await store.queue.claim_due(10, 60_000)
        assert sorted(job.delivery_id for job in first) == sorted([a1_id, b1_id])
        assert {job.trigger for job in first} == {Trigger.REPLAY}
        by_id = {job.delivery_id: job for job in first}
        await _finish(store, by_id[a1_id], DeliveryStatus.DELIVERED)
        assert await claimed() == [a2_id]
        await _finish(store, by_id[b1_id], DeliveryStatus.FAILED)  # a dead letter ends its turn
        assert await claimed() == [b2_id]

    run(scenario)


def test_the_write_that_ends_a_chats_turn_can_lease_the_next_one_for_its_dispatcher(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        connection, ordered, _ = await _ordered(store)

        def mine(per_event: list[list[DeliveryJob]]) -> list[DeliveryJob]:
            return [next(j for j in jobs if j.webhook_id == ordered.id) for jobs in per_event]

        a1, a2, a3 = mine(await store.queue.ingest(
            [_message(connection, "a@c.us") for _ in range(3)], claim_lease_ms=60_000
        ))
        assert (a1.attempt, a2.attempt, a3.attempt) == (1, 0, 0)
        written = await store.queue.record_outcomes([
            RecordedOutcome(a1.delivery_id, 1, _outcome(200), DeliveryStatus.DELIVERED, None,
                            a1.trigger, ordered.id, a1.order_key),
        ], lease_next_ms=60_000)
        # a2 comes back leased, its attempt counted, as a claim would give it; nobody else gets it.
        (handed,) = written.next_jobs
        assert (handed.delivery_id, handed.attempt, handed.order_key) == (
            a2.delivery_id, 1, a2.order_key
        )
        assert handed.body == b"{}" and handed.url == ordered.url and written.changes == []
        assert await store.queue.claim_due(10, 60_000) == []
        # A dead letter whose 410 disables the webhook: its chat's next one is held, not leased.
        written = await store.queue.record_outcomes([
            RecordedOutcome(a2.delivery_id, 1, _outcome(410, "HTTP 410"), DeliveryStatus.FAILED,
                            None, a2.trigger, ordered.id, a2.order_key),
        ], lease_next_ms=60_000)
        assert written.next_jobs == [] and len(written.changes) == 1
        held = await store.deliveries.list_deliveries(ordered.id, status=DeliveryStatus.HELD)
        assert a3.delivery_id in {log.id for log in held}

    run(scenario)
