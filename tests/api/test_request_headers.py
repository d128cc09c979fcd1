"""Each attempt's request headers as sent, end to end: a real `wahooks serve` on SQLite and on
PostgreSQL and a real receiver that records what it got. The log (GET /api/webhooks/:id/logs and
/logs/:logId) shows per attempt exactly the headers that reached the receiver, in their order and
case, signatures included and no secret; what the attempt stores is rebuilt from the delivery
(wahooks.storage.request_headers), so this is also the test that the rebuild matches the sender."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.test_attempts_and_recovery import (
    POSTGRES_URL,
    _drop,
    one_log,
    send_test,
    settled,
    webhook_to,
)
from support.receiver import Receiver
from support.server import ServerProcess
from wahooks.signing import verify_signature
from wahooks.version import __version__


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One quick retry: a failed delivery is attempted twice, then dead-lettered."""
    schema = f"wahooks_test_{uuid.uuid4().hex[:12]}"
    database: Any = tmp_path_factory.mktemp("request-headers") / "wahooks.db"
    if request.param == "postgres":
        database = f"{POSTGRES_URL}?schema={schema}"
    process = ServerProcess(
        database, env={"WAHOOKS_RETRY_SCHEDULE": "0.05", "WAHOOKS_REQUEST_TIMEOUT": "2"}
    ).start()
    yield process
    process.stop()
    if request.param == "postgres":
        asyncio.run(_drop(schema))


@pytest.fixture(scope="module")
def connection(owner: httpx.Client) -> dict[str, Any]:
    response = owner.post("/connections")
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_every_attempt_shows_the_headers_its_receiver_got(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver(statuses=[500, 500, 200]) as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        log_id = send_test(owner, hook["id"])
        failed = settled(owner, hook["id"], log_id)
        assert failed["status"] == "failed" and failed["attempts"] == 2
        redelivered = owner.post(f"/webhooks/{hook['id']}/logs/{log_id}/redeliver")
        assert redelivered.status_code == 201, redelivered.text
        delivered = settled(owner, hook["id"], log_id)
        got = receiver.wait_for(3)

    assert delivered["status"] == "delivered"
    attempts = delivered["attemptLog"]
    assert [attempt["attempt"] for attempt in attempts] == [1, 2, 3]
    body = got[0].body
    for attempt, received in zip(attempts, got, strict=True):
        sent = attempt["requestHeaders"]
        # Exactly what arrived: the same names in the same case and order, the same values.
        assert list(sent.items()) == list(received.headers.items())
        assert sent["X-WAHooks-Attempt"] == str(attempt["attempt"])
        assert sent["webhook-id"] == sent["X-WAHooks-Delivery"] == log_id
        assert sent["User-Agent"] == f"wahooks/{__version__}"
        assert sent["X-WAHooks-Signature"].startswith("sha256=")
        assert sent["Content-Length"] == str(len(body))
        # The signatures shown are the real ones, and the secret itself is nowhere.
        verify_signature(body, sent, hook["signingSecret"], tolerance=None)
        assert all(hook["signingSecret"] not in value for value in sent.values())
    # The listing shows the same as the one-delivery endpoint.
    listed = owner.get(f"/webhooks/{hook['id']}/logs").json()
    assert listed[0]["attemptLog"] == attempts


def test_during_a_rotation_both_signatures_are_shown_as_sent(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    with Receiver() as receiver:
        hook = webhook_to(owner, connection, receiver.url)
        rotated = owner.post(f"/webhooks/{hook['id']}/rotate-secret",
                             json={"overlapSeconds": 3600})
        assert rotated.status_code in (200, 201), rotated.text
        new_secret = rotated.json()["signingSecret"]
        log_id = send_test(owner, hook["id"])
        row = settled(owner, hook["id"], log_id)
        (received,) = receiver.wait_for(1)
    sent = row["attemptLog"][0]["requestHeaders"]
    assert list(sent.items()) == list(received.headers.items())
    assert len(sent["webhook-signature"].split(" ")) == 2
    verify_signature(received.body, sent, hook["signingSecret"], tolerance=None)  # the old one
    verify_signature(received.body, sent, new_secret, tolerance=None)
    assert not any(secret in value for value in sent.values()
                   for secret in (hook["signingSecret"], new_secret))


def test_an_attempt_that_could_not_connect_shows_the_request_it_tried(
    owner: httpx.Client, connection: dict[str, Any]
) -> None:
    hook = webhook_to(owner, connection, "http://127.0.0.1:1/refused")
    log_id = send_test(owner, hook["id"])
    row = one_log(owner, hook["id"], settled(owner, hook["id"], log_id)["id"])
    for attempt in row["attemptLog"]:
        assert attempt["errorClass"] == "connect_refused"
        sent = attempt["requestHeaders"]
        assert sent["Host"] == "127.0.0.1:1"
        assert sent["X-WAHooks-Attempt"] == str(attempt["attempt"])
