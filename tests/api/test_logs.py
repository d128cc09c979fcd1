"""Delivery logs, the test event and redeliveries: GET /api/webhooks/:id/logs,
POST /api/webhooks/:id/test, POST /api/webhooks/:id/logs/:logId/redeliver,
POST /api/webhooks/:id/redeliver-failed (compat.md 1.2 WebhookLog, 1.3, 1.5)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.contract import (
    ISO,
    MALFORMED_IDS,
    UNKNOWN_ID,
    UUID,
    assert_error,
    assert_log,
    assert_unauthorized,
    assert_validation,
)
from support.receiver import Received, Receiver
from support.server import ServerProcess, wait_until

TEST_MESSAGE = "This is a test webhook event from WAHooks"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """No retries (a failed attempt is dead-lettered at once) and a short receiver timeout."""
    process = ServerProcess(
        tmp_path_factory.mktemp("logs") / "wahooks.db",
        env={"WAHOOKS_RETRY_SCHEDULE": "", "WAHOOKS_REQUEST_TIMEOUT": "1.5"},
    ).start()
    yield process
    process.stop()


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


def send_test(client: httpx.Client, webhook_id: str) -> str:
    response = client.post(f"/webhooks/{webhook_id}/test")
    assert response.status_code == 201, response.text
    return str(response.json()["logId"])


def settled(client: httpx.Client, webhook_id: str, log_id: str) -> dict[str, Any]:
    """The log row once it is no longer pending."""
    def done() -> dict[str, Any] | None:
        row = next(r for r in logs(client, webhook_id, limit=1000) if r["id"] == log_id)
        return None if row["status"] == "pending" else row
    return wait_until(done)  # type: ignore[no-any-return]


def headers_of(received: Received) -> dict[str, str]:
    return {key.lower(): value for key, value in received.headers.items()}


# the test event ----------------------------------------------------------------------------------


def test_test_event_is_enqueued_logged_and_delivered_signed(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver() as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        response = owner.post(f"/webhooks/{hook['id']}/test")
        assert response.status_code == 201
        body = response.json()
        assert list(body) == ["success", "logId", "message"]
        assert body["success"] is True
        assert UUID.match(body["logId"])
        assert body["message"] == "Test event enqueued for delivery"

        first = logs(owner, hook["id"])[0]
        assert_log(first, webhook_id=hook["id"])
        assert first["id"] == body["logId"]
        assert first["eventType"] == "test"

        (received,) = receiver.wait_for(1)
        sent = json.loads(received.body)
        assert list(sent) == ["event", "session", "payload"]
        assert sent["event"] == "test" and sent["session"] == "test"
        assert sent["payload"]["message"] == TEST_MESSAGE
        assert ISO.match(sent["payload"]["timestamp"])
        headers = headers_of(received)
        assert headers["content-type"] == "application/json"
        assert headers["x-wahooks-event"] == "test"
        stamp = headers["x-wahooks-timestamp"]
        assert abs(int(stamp) - time.time()) < 60
        expected = hmac.new(hook["signingSecret"].encode(), stamp.encode() + b"." + received.body,
                            hashlib.sha256).hexdigest()
        assert headers["x-wahooks-signature"] == "sha256=" + expected

        row = settled(owner, hook["id"], body["logId"])
        assert_log(row, webhook_id=hook["id"])
        assert row["status"] == "delivered"
        assert row["attempts"] == 1
        assert row["deliveredAt"] >= row["createdAt"]
        assert row["payload"] == sent


def test_each_test_event_is_a_new_log(owner: httpx.Client, connection: dict[str, Any]) -> None:
    with Receiver() as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        first, second = send_test(owner, hook["id"]), send_test(owner, hook["id"])
        assert first != second
        assert [row["id"] for row in logs(owner, hook["id"])] == [second, first]
        receiver.wait_for(2)


# listing -----------------------------------------------------------------------------------------


def test_logs_of_a_new_webhook_are_empty(owner: httpx.Client, connection: dict[str, Any]) -> None:
    hook = webhook_to(owner, connection, "http://127.0.0.1:1/never")
    assert logs(owner, hook["id"]) == []


def test_logs_are_newest_first_and_100_by_default(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver() as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        sent = [send_test(owner, hook["id"]) for _ in range(105)]
        newest_first = list(reversed(sent))

        page = owner.get(f"/webhooks/{hook['id']}/logs")
        assert page.status_code == 200
        rows = page.json()
        assert [row["id"] for row in rows] == newest_first[:100]
        created = [row["createdAt"] for row in rows]
        assert created == sorted(created, reverse=True)
        for row in rows[:3]:
            assert_log(row, webhook_id=hook["id"])

        everything = logs(owner, hook["id"], limit=1000)
        assert [row["id"] for row in everything] == newest_first
        assert [row["id"] for row in logs(owner, hook["id"], limit=5)] == newest_first[:5]
        receiver.wait_for(105)


def test_before_pages_through_older_logs(owner: httpx.Client, connection: dict[str, Any]) -> None:
    with Receiver() as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        newest_first = list(reversed([send_test(owner, hook["id"]) for _ in range(7)]))
        first = owner.get(f"/webhooks/{hook['id']}/logs", params={"limit": 3})
        assert [row["id"] for row in first.json()] == newest_first[:3]
        assert first.headers["x-next-before"] == newest_first[2]
        second = logs(owner, hook["id"], limit=3, before=newest_first[2])
        assert [row["id"] for row in second] == newest_first[3:6]
        third = logs(owner, hook["id"], limit=3, before=newest_first[5])
        assert [row["id"] for row in third] == newest_first[6:]
        assert logs(owner, hook["id"], before=newest_first[-1]) == []
        assert logs(owner, hook["id"], before=UNKNOWN_ID) == []
        receiver.wait_for(7)


def test_status_filters_logs(owner: httpx.Client, connection: dict[str, Any]) -> None:
    with Receiver(statuses=[200, 500, 200]) as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        ids = []
        for _ in range(3):  # one at a time, so the n-th request is the n-th event
            ids.append(send_test(owner, hook["id"]))
            settled(owner, hook["id"], ids[-1])
        delivered, failed = [ids[2], ids[0]], [ids[1]]
        assert [r["id"] for r in logs(owner, hook["id"], status="delivered")] == delivered
        assert [r["id"] for r in logs(owner, hook["id"], status="failed")] == failed
        assert logs(owner, hook["id"], status="pending") == []
        assert [r["id"] for r in logs(owner, hook["id"], status="delivered", limit=1)] == [ids[2]]


def test_a_failed_delivery_is_logged_with_its_error(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver(statuses=[500]) as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        row = settled(owner, hook["id"], send_test(owner, hook["id"]))
        assert_log(row, webhook_id=hook["id"])
        assert row["status"] == "failed"
        assert row["attempts"] == 1
        assert row["deliveredAt"] is None
        assert row["lastStatusCode"] == 500
        assert row["lastError"] == "HTTP 500: nope"
        assert len(row["attemptLog"]) == 1
        assert row["attemptLog"][0]["statusCode"] == 500
        receiver.wait_for(1)


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "status=bogus"])
def test_bad_log_queries_are_nest_400(
    owner: httpx.Client, connection: dict[str, Any], query: str
) -> None:
    hook = webhook_to(owner, connection, "http://127.0.0.1:1/never")
    assert_validation(owner.get(f"/webhooks/{hook['id']}/logs?{query}"))


def test_a_malformed_before_is_400(owner: httpx.Client, connection: dict[str, Any]) -> None:
    hook = webhook_to(owner, connection, "http://127.0.0.1:1/never")
    response = owner.get(f"/webhooks/{hook['id']}/logs", params={"before": "abc"})
    assert_error(response, 400, ["before must be a log id"])


# redelivery --------------------------------------------------------------------------------------


def test_redeliver_a_failed_log(owner: httpx.Client, connection: dict[str, Any]) -> None:
    with Receiver(statuses=[500, 200]) as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        log_id = send_test(owner, hook["id"])
        assert settled(owner, hook["id"], log_id)["status"] == "failed"

        response = owner.post(f"/webhooks/{hook['id']}/logs/{log_id}/redeliver")
        assert response.status_code == 201
        assert response.json() == {"success": True, "logId": log_id,
                                   "message": "Redelivery enqueued"}
        first, second = receiver.wait_for(2)
        assert second.body == first.body
        row = settled(owner, hook["id"], log_id)
        assert row["status"] == "delivered"
        assert row["attempts"] == 2
        assert ISO.match(row["deliveredAt"])
        assert [a["statusCode"] for a in row["attemptLog"]] == [500, 200]
        assert [r["id"] for r in logs(owner, hook["id"])] == [log_id]


def test_redeliver_a_delivered_log(owner: httpx.Client, connection: dict[str, Any]) -> None:
    with Receiver() as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        log_id = send_test(owner, hook["id"])
        assert settled(owner, hook["id"], log_id)["status"] == "delivered"
        response = owner.post(f"/webhooks/{hook['id']}/logs/{log_id}/redeliver")
        assert response.status_code == 201
        receiver.wait_for(2)
        assert wait_until(lambda: settled(owner, hook["id"], log_id)["attempts"] == 2)


def test_a_pending_log_cannot_be_redelivered(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    # A listener that never accepts: the kernel completes the handshake, nobody ever answers.
    # (Receiver(hang=True) would do, but its shutdown waits ten seconds for the hung handler.)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        hook = webhook_to(owner, connection, f"http://127.0.0.1:{silent.getsockname()[1]}/")
        log_id = send_test(owner, hook["id"])
        response = owner.post(f"/webhooks/{hook['id']}/logs/{log_id}/redeliver")
        assert_error(response, 409,
                     "This delivery is still pending; it will be attempted again by itself")
        row = settled(owner, hook["id"], log_id)  # the receiver timeout is 1.5 s
        assert row["status"] == "failed"
        assert row["lastError"].startswith("timeout")


def test_redeliver_failed_retries_every_dead_letter(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver(statuses=[500, 500, 500, 200]) as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        none = owner.post(f"/webhooks/{hook['id']}/redeliver-failed")
        assert none.status_code == 201
        assert none.json() == {"success": True, "count": 0}
        ids = []
        for _ in range(3):
            ids.append(send_test(owner, hook["id"]))
            settled(owner, hook["id"], ids[-1])
        assert len(logs(owner, hook["id"], status="failed")) == 3

        response = owner.post(f"/webhooks/{hook['id']}/redeliver-failed")
        assert response.status_code == 201
        assert response.json() == {"success": True, "count": 3}
        receiver.wait_for(6)
        for log_id in ids:
            row = settled(owner, hook["id"], log_id)
            assert row["status"] == "delivered" and row["attempts"] == 2
        assert owner.post(f"/webhooks/{hook['id']}/redeliver-failed").json()["count"] == 0


def test_redeliver_failed_leaves_other_webhooks_alone(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver(statuses=[500]) as receiver:
        mine, other = webhook_to(owner, connection, receiver.url), webhook_to(
            owner, connection, receiver.url)
        settled(owner, other["id"], send_test(owner, other["id"]))
        assert owner.post(f"/webhooks/{mine['id']}/redeliver-failed").json()["count"] == 0
        assert logs(owner, other["id"])[0]["status"] == "failed"


@pytest.mark.parametrize("log_id", [UNKNOWN_ID, *MALFORMED_IDS])
def test_redeliver_an_unknown_log_is_404(
    owner: httpx.Client, connection: dict[str, Any], log_id: str
) -> None:
    hook = webhook_to(owner, connection, "http://127.0.0.1:1/never")
    response = owner.post(f"/webhooks/{hook['id']}/logs/{log_id}/redeliver")
    assert_error(response, 404, "Webhook log not found")


def test_redeliver_a_log_of_another_webhook_is_404(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver() as receiver:
        hook, other = webhook_to(owner, connection, receiver.url), webhook_to(
            owner, connection, receiver.url)
        log_id = send_test(owner, hook["id"])
        settled(owner, hook["id"], log_id)
        response = owner.post(f"/webhooks/{other['id']}/logs/{log_id}/redeliver")
        assert_error(response, 404, "Webhook log not found")


# errors common to the routes ---------------------------------------------------------------------

ROUTES = [
    ("GET", "/logs"), ("POST", "/test"), ("POST", "/redeliver-failed"),
    ("POST", f"/logs/{UNKNOWN_ID}/redeliver"),
]


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
@pytest.mark.parametrize("webhook_id", [UNKNOWN_ID, *MALFORMED_IDS])
def test_unknown_webhook_is_404(
    owner: httpx.Client, method: str, suffix: str, webhook_id: str
) -> None:
    response = owner.request(method, f"/webhooks/{webhook_id}{suffix}")
    assert_error(response, 404, "Webhook config not found")


def test_a_deleted_webhooks_logs_are_gone(owner: httpx.Client, connection: dict[str, Any]) -> None:
    with Receiver() as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        log_id = send_test(owner, hook["id"])
        settled(owner, hook["id"], log_id)
        owner.delete(f"/webhooks/{hook['id']}")
        for method, suffix in [*ROUTES, ("POST", f"/logs/{log_id}/redeliver")]:
            response = owner.request(method, f"/webhooks/{hook['id']}{suffix}")
            assert_error(response, 404, "Webhook config not found")


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_another_account_is_403(
    owner: httpx.Client, bob: httpx.Client, connection: dict[str, Any], method: str, suffix: str
) -> None:
    with Receiver(statuses=[500]) as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        log_id = send_test(owner, hook["id"])
        before = settled(owner, hook["id"], log_id)
        path = f"/webhooks/{hook['id']}{suffix.replace(UNKNOWN_ID, log_id)}"
        assert_error(bob.request(method, path), 403, "You do not own this webhook config")
        time.sleep(0.2)  # a wrongly accepted test or redelivery would have been sent by now
        assert logs(owner, hook["id"]) == [before]
        assert len(receiver.requests) == 1


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_log_routes_require_auth(server: ServerProcess, method: str, suffix: str) -> None:
    assert_unauthorized(server.base_url + "/api", method, f"/webhooks/{UNKNOWN_ID}{suffix}")
