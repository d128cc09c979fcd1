"""Attempt detail, log filters, one delivery's log and recovery, end to end: a real `wahooks serve`
on SQLite and on PostgreSQL, real receivers on 127.0.0.1 (GET /api/webhooks/:id/logs filters,
GET /api/webhooks/:id/logs/:logId, POST /api/webhooks/:id/recover)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.contract import MALFORMED_IDS, UNKNOWN_ID, assert_error, assert_log
from support.receiver import Receiver
from support.server import ServerProcess, wait_until

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One quick retry (a failed delivery is attempted twice, then dead-lettered)."""
    schema = f"wahooks_test_{uuid.uuid4().hex[:12]}"
    database: Any = tmp_path_factory.mktemp("attempts") / "wahooks.db"
    if request.param == "postgres":
        database = f"{POSTGRES_URL}?schema={schema}"
    process = ServerProcess(
        database, env={"WAHOOKS_RETRY_SCHEDULE": "0.05", "WAHOOKS_REQUEST_TIMEOUT": "2"}
    ).start()
    yield process
    process.stop()
    if request.param == "postgres":
        asyncio.run(_drop(schema))


async def _drop(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def connection(owner: httpx.Client) -> dict[str, Any]:
    response = owner.post("/connections")
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def webhook_to(client: httpx.Client, connection: dict[str, Any], url: str) -> dict[str, Any]:
    response = client.post(f"/connections/{connection['id']}/webhooks",
                           json={"url": url, "events": ["*"]})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def logs(client: httpx.Client, webhook_id: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/webhooks/{webhook_id}/logs", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def one_log(client: httpx.Client, webhook_id: str, log_id: str) -> dict[str, Any]:
    response = client.get(f"/webhooks/{webhook_id}/logs/{log_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def settled(client: httpx.Client, webhook_id: str, log_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        row = one_log(client, webhook_id, log_id)
        return None if row["status"] == "pending" else row
    return wait_until(done)  # type: ignore[no-any-return]


def send_test(client: httpx.Client, webhook_id: str) -> str:
    response = client.post(f"/webhooks/{webhook_id}/test")
    assert response.status_code == 201, response.text
    return str(response.json()["logId"])


def iso_in(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


# attempt detail ----------------------------------------------------------------------------------


def test_each_attempt_records_its_answer_error_class_and_trigger(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver(
        statuses=[503, 503, 200],
        answer_headers={"Retry-After": "0", "X-Request-Id": "req-42", "X-Internal": "not kept"},
        answer_body="é" * 1000,  # 2000 bytes of UTF-8: 1 KiB is kept
    ) as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        log_id = send_test(owner, hook["id"])
        failed = settled(owner, hook["id"], log_id)
        assert failed["status"] == "failed" and failed["attempts"] == 2
        first, second = failed["attemptLog"]
        assert first["trigger"] == "test" and second["trigger"] == "scheduled"
        for attempt in (first, second):
            assert attempt["statusCode"] == 503
            assert attempt["errorClass"] == "http_status"
            assert attempt["responseHeaders"] == {
                "content-type": "text/plain; charset=utf-8", "retry-after": "0",
                "x-request-id": "req-42",
            }
            assert attempt["responseBody"] == "é" * 512
        assert failed == logs(owner, hook["id"])[0]  # the listing shows the same detail
        assert_log(failed, webhook_id=hook["id"])

        response = owner.post(f"/webhooks/{hook['id']}/logs/{log_id}/redeliver")
        assert response.status_code == 201, response.text
        delivered = settled(owner, hook["id"], log_id)
        third = delivered["attemptLog"][2]
        assert delivered["status"] == "delivered"
        assert (third["trigger"], third["statusCode"], third["errorClass"]) == ("manual", 200, None)
        assert third["responseBody"] == "é" * 512
        assert len(receiver.requests) == 3


def test_an_attempt_without_an_answer_has_its_error_class_and_no_response(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    hook = webhook_to(owner, connection, "http://127.0.0.1:1/refused")
    row = settled(owner, hook["id"], send_test(owner, hook["id"]))
    for attempt in row["attemptLog"]:
        assert attempt["statusCode"] is None
        assert attempt["errorClass"] == "connect_refused"
        assert attempt["responseBody"] is None and attempt["responseHeaders"] == {}


# one delivery ------------------------------------------------------------------------------------


def test_one_log_is_404_for_unknown_malformed_or_another_webhooks_ids_and_403_for_others(
    owner: httpx.Client, bob: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver() as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        other = webhook_to(owner, connection, receiver.url)
        log_id = send_test(owner, hook["id"])
        assert one_log(owner, hook["id"], log_id)["id"] == log_id
        for bad in (UNKNOWN_ID, *MALFORMED_IDS[:3]):
            response = owner.get(f"/webhooks/{hook['id']}/logs/{bad}")
            assert_error(response, 404, "Webhook log not found")
        assert_error(owner.get(f"/webhooks/{other['id']}/logs/{log_id}"), 404,
                     "Webhook log not found")
        assert_error(owner.get(f"/webhooks/{UNKNOWN_ID}/logs/{log_id}"), 404,
                     "Webhook config not found")
        assert_error(bob.get(f"/webhooks/{hook['id']}/logs/{log_id}"), 403,
                     "You do not own this webhook config")
        receiver.wait_for(1)


# filters -----------------------------------------------------------------------------------------


def test_logs_filter_by_status_class_event_type_and_time_and_still_page(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver(statuses=[200, 404, 404, 500, 500, 200]) as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        ok, missing, broken = (settled(owner, hook["id"], send_test(owner, hook["id"]))
                               for _ in range(3))
        assert [ok["status"], missing["status"], broken["status"]] == [
            "delivered", "failed", "failed"
        ]

        def ids(**params: Any) -> list[str]:
            return [row["id"] for row in logs(owner, hook["id"], **params)]

        assert ids(statusClass="2xx") == [ok["id"]]
        assert ids(statusClass="4xx") == [missing["id"]]
        assert ids(statusClass="5xx") == [broken["id"]]
        assert ids(statusClass="none") == []
        assert ids(status="failed", statusClass="4xx") == [missing["id"]]
        assert ids(eventType="test") == [broken["id"], missing["id"], ok["id"]]
        assert ids(eventType="message") == []
        assert ids(since=missing["createdAt"]) == [broken["id"], missing["id"]]
        assert ids(until=missing["createdAt"]) == [ok["id"]]
        assert ids(since=iso_in(timedelta(hours=1))) == []
        assert ids(since="2020-01-01", until=iso_in(timedelta(hours=1))) == ids()
        # "+02:00" typed unencoded into a query string arrives as " 02:00": still understood.
        assert ids(since="2020-01-01T00:00:00 02:00") == ids()

        page = owner.get(f"/webhooks/{hook['id']}/logs",
                         params={"eventType": "test", "limit": 2})
        assert [row["id"] for row in page.json()] == [broken["id"], missing["id"]]
        assert page.headers["X-Next-Before"] == missing["id"]
        assert ids(eventType="test", before=missing["id"]) == [ok["id"]]


def test_bad_log_filters_are_400_with_a_message(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    hook = webhook_to(owner, connection, "http://127.0.0.1:1/never")
    cases = {
        "since": ("yesterday", "since must be an ISO 8601 time"),
        "until": ("2026-13-01", "until must be an ISO 8601 time"),
        "statusClass": ("6xx", "statusClass must be one of: 2xx, 3xx, 4xx, 5xx, none"),
    }
    for name, (value, message) in cases.items():
        response = owner.get(f"/webhooks/{hook['id']}/logs", params={name: value})
        assert response.status_code == 400, response.text
        assert message in response.text
    response = owner.get(f"/webhooks/{hook['id']}/logs",
                         params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01"})
    assert response.status_code == 400
    assert "since must not be later than until" in response.text


# recovery ----------------------------------------------------------------------------------------


def test_recover_queues_the_windows_never_delivered_dead_letters_again(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    # 1: delivered, then redelivered by hand and dead-lettered (it succeeded once: not recovered);
    # 2 and 3: dead-lettered; then the receiver is back.
    with Receiver(statuses=[200, 500, 500, 500, 500, 500, 500, 200]) as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        url = f"/webhooks/{hook['id']}/recover"
        once = send_test(owner, hook["id"])
        assert settled(owner, hook["id"], once)["status"] == "delivered"
        assert owner.post(f"/webhooks/{hook['id']}/logs/{once}/redeliver").status_code == 201
        wait_until(lambda: one_log(owner, hook["id"], once)["status"] == "failed")
        lost = [settled(owner, hook["id"], send_test(owner, hook["id"]))["id"] for _ in range(2)]
        before = logs(owner, hook["id"])

        earlier = owner.post(url, json={"since": iso_in(-timedelta(days=2)),
                                        "until": iso_in(-timedelta(days=1))})
        assert earlier.status_code == 201 and earlier.json() == {"success": True, "count": 0}
        assert logs(owner, hook["id"]) == before

        response = owner.post(url, json={"since": iso_in(-timedelta(hours=1))})
        assert response.status_code == 201, response.text
        assert response.json() == {"success": True, "count": 2}
        for log_id in lost:
            row = settled(owner, hook["id"], log_id)
            assert row["status"] == "delivered"
            assert [a["trigger"] for a in row["attemptLog"]] == ["test", "scheduled", "recover"]
        assert one_log(owner, hook["id"], once)["status"] == "failed"
        requests = receiver.wait_for(9)  # 1 + 2 (redelivered) + 2 x 2 (lost) + 2 (recovered)
        assert sorted(r.headers["X-WAHooks-Delivery"] for r in requests[7:]) == sorted(lost)

        again = owner.post(url, json={"since": iso_in(-timedelta(hours=1))})
        assert again.json() == {"success": True, "count": 0}


def test_bad_recovery_windows_are_400_and_change_nothing(
    owner: httpx.Client, bob: httpx.Client, connection: dict[str, Any]
) -> None:
    hook = webhook_to(owner, connection, "http://127.0.0.1:1/never")
    dead = settled(owner, hook["id"], send_test(owner, hook["id"]))
    assert dead["status"] == "failed"
    url = f"/webhooks/{hook['id']}/recover"
    now = datetime.now(UTC)
    cases: list[tuple[Any, str]] = [
        ({}, "since is required"),
        ({"since": "last week"}, "since must be an ISO 8601 time"),
        ({"since": 12}, "since must be an ISO 8601 time"),
        ({"since": iso_in(-timedelta(hours=1)), "until": "soon"}, "until must be an ISO 8601"),
        ({"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()},
         "since must be earlier than until"),
        ({"since": (now - timedelta(days=15)).isoformat()},
         "the window from since to until must be at most 14 days"),
        ({"since": (now - timedelta(days=30)).isoformat(),
          "until": (now - timedelta(days=15, seconds=1)).isoformat()},
         "the window from since to until must be at most 14 days"),
    ]
    for body, message in cases:
        response = owner.post(url, json=body)
        assert response.status_code == 400, (body, response.text)
        assert message in response.text, (body, response.text)
    assert_error(bob.post(url, json={"since": iso_in(-timedelta(hours=1))}), 403,
                 "You do not own this webhook config")
    assert_error(owner.post(f"/webhooks/{UNKNOWN_ID}/recover",
                            json={"since": iso_in(-timedelta(hours=1))}),
                 404, "Webhook config not found")
    assert one_log(owner, hook["id"], dead["id"]) == dead
