"""Secret rotation with overlap, end to end (docs/signatures.md): a real `wahooks serve` (SQLite and
PostgreSQL) delivers sandbox events to the product page's own Express and Flask receivers, which
know only the old secret, and to a recording receiver whose requests are checked with our
`verify_signature` and with the `standardwebhooks` package from PyPI.

- During the overlap the page's receivers verify every delivery on its first attempt; every
  delivery verifies with the old secret, the new one and both, in both schemes.
- After the overlap the page's receivers refuse every delivery; only the new secret verifies.

The Express receiver needs its packages first: `npm ci --prefix tests/receivers/express`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks import WebhookVerificationError

from acceptance.test_receiver_examples import MAKERS, ReceiverProcess
from support.receiver import Received, Receiver
from support.server import ServerProcess, connected_connection, free_port, wait_until
from wahooks.signing import InvalidSignature, standard_webhooks_secret, verify_signature

pytestmark = pytest.mark.acceptance

CONTACT = "14155550123@c.us"
TEXTS = ["Before the rotation", "Hello 👋🏽", "Привет, мир", "\"quoted\" \\ back\nslash", "x" * 5000]


@pytest.fixture(params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_schema_url: Callable[[], str]
) -> Iterator[ServerProcess]:
    database = postgres_schema_url() if request.param == "postgres" else tmp_path / "wahooks.db"
    # A short schedule, so the receiver that fails once sees its retry quickly.
    process = ServerProcess(database, env={"WAHOOKS_RETRY_SCHEDULE": "0.2,0.2,30"}).start()
    yield process
    process.stop()


@pytest.fixture
def page_receivers() -> Iterator[list[ReceiverProcess]]:
    started: list[ReceiverProcess] = []
    yield started
    for receiver in started:
        receiver.stop()


def _json(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _webhook(client: httpx.Client, connection_id: str, url: str) -> dict[str, Any]:
    created: dict[str, Any] = _json(client.post(
        f"/connections/{connection_id}/webhooks", json={"url": url, "events": ["message"]}
    ))
    return created


def _send(client: httpx.Client, connection_id: str, text: str) -> None:
    _json(client.post(f"/connections/{connection_id}/sandbox/inbound",
                      json={"from": CONTACT, "body": text}))


def _rotate(client: httpx.Client, webhook: dict[str, Any], overlap: int) -> dict[str, Any]:
    rotated: dict[str, Any] = _json(client.post(
        f"/webhooks/{webhook['id']}/rotate-secret", json={"overlapSeconds": overlap}
    ))
    return rotated


def _verifies(delivery: Received, secrets: str | list[str]) -> bool:
    try:
        verify_signature(delivery.body, delivery.headers, secrets)
    except InvalidSignature:
        return False
    return True


def _standard_verifies(delivery: Received, secret: str) -> bool:
    try:
        StandardWebhook(standard_webhooks_secret(secret)).verify(delivery.body, delivery.headers)
    except WebhookVerificationError:
        return False
    return True


def _verified_everywhere(delivery: Received, old: str, new: str) -> dict[str, bool]:
    return {
        "old": _verifies(delivery, old), "new": _verifies(delivery, new),
        "both": _verifies(delivery, [old, new]),
        "standard old": _standard_verifies(delivery, old),
        "standard new": _standard_verifies(delivery, new),
    }


def test_old_secret_receivers_verify_every_delivery_until_the_overlap_ends(
    server: ServerProcess, page_receivers: list[ReceiverProcess]
) -> None:
    with server.client() as client, Receiver() as recorder, \
            Receiver(statuses=[500, 200]) as flaky:
        connection = connected_connection(client)["id"]
        ports = {name: free_port() for name in MAKERS}
        page = {name: _webhook(client, connection, f"http://127.0.0.1:{port}/webhook")
                for name, port in ports.items()}
        recorded = _webhook(client, connection, recorder.url)
        retried = _webhook(client, connection, flaky.url)
        for name, make in MAKERS.items():
            page_receivers.append(make(ports[name], page[name]["signingSecret"]).start())

        _send(client, connection, TEXTS[0])
        recorder.wait_for(1)
        flaky.wait_for(2)  # its first attempt failed, the retry succeeded
        for receiver in page_receivers:
            wait_until(lambda r=receiver: r.outcomes())
        rotated = {hook["id"]: _rotate(client, hook, 3600)
                   for hook in [*page.values(), recorded, retried]}
        for text in TEXTS[1:]:
            _send(client, connection, text)
        for hook in [*page.values(), recorded]:
            _json(client.post(f"/webhooks/{hook['id']}/test"))
        deliveries = recorder.wait_for(1 + len(TEXTS))
        flaky_deliveries = flaky.wait_for(1 + len(TEXTS))

        expected = len(TEXTS) + 1  # every message and the test event
        for receiver in page_receivers:
            outcomes = wait_until(
                lambda r=receiver: len(r.outcomes()) >= expected and r.outcomes(), timeout=30
            )
            assert [outcome for outcome, _ in outcomes] == ["verified"] * expected, receiver.tail()
        for hook in page.values():
            # The receivers print before they answer: wait for the server to record the answers.
            logs = wait_until(lambda h=hook: _settled(client, h, expected), timeout=30)
            assert [(log["status"], log["attempts"]) for log in logs] == [("delivered", 1)] * 6

    old, new = recorded["signingSecret"], rotated[recorded["id"]]["signingSecret"]
    before, during = deliveries[0], deliveries[1:]
    assert _verified_everywhere(before, old, new) == {
        "old": True, "new": False, "both": True, "standard old": True, "standard new": False,
    }
    for delivery in during:
        assert _verified_everywhere(delivery, old, new) == dict.fromkeys(
            ["old", "new", "both", "standard old", "standard new"], True
        ), delivery.headers
        assert delivery.headers["webhook-id"] == delivery.headers["X-WAHooks-Delivery"]
        assert delivery.headers["webhook-timestamp"] == delivery.headers["X-WAHooks-Timestamp"]
        assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    # One webhook-id per delivery, whatever its attempts: the retried one kept its id.
    first, retry = flaky_deliveries[:2]
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert (first.headers["X-WAHooks-Attempt"], retry.headers["X-WAHooks-Attempt"]) == ("1", "2")
    assert len({d.headers["webhook-id"] for d in flaky_deliveries}) == len(flaky_deliveries) - 1


def test_after_the_overlap_only_the_new_secret_verifies(
    server: ServerProcess, page_receivers: list[ReceiverProcess]
) -> None:
    with server.client() as client, Receiver() as recorder:
        connection = connected_connection(client)["id"]
        ports = {name: free_port() for name in MAKERS}
        page = {name: _webhook(client, connection, f"http://127.0.0.1:{port}/webhook")
                for name, port in ports.items()}
        recorded = _webhook(client, connection, recorder.url)
        for name, make in MAKERS.items():
            page_receivers.append(make(ports[name], page[name]["signingSecret"]).start())
        rotated = {hook["id"]: _rotate(client, hook, 1) for hook in [*page.values(), recorded]}
        ends = max(_seconds(r["previousSecretExpiresAt"]) for r in rotated.values())
        # Wait for the overlap to be over before any event exists, so every attempt is signed
        # after it: nothing here races the clock.
        wait_until(lambda: time.time() > ends + 0.01, timeout=5)

        for text in TEXTS[1:3]:
            _send(client, connection, text)
        deliveries = recorder.wait_for(2)
        for receiver in page_receivers:
            outcomes = wait_until(lambda r=receiver: len(r.outcomes()) >= 2 and r.outcomes())
            assert {outcome for outcome, _ in outcomes} == {"Invalid signature"}, receiver.tail()

    old, new = recorded["signingSecret"], rotated[recorded["id"]]["signingSecret"]
    for delivery in deliveries:
        assert _verified_everywhere(delivery, old, new) == {
            "old": False, "new": True, "both": True, "standard old": False, "standard new": True,
        }
        assert len(delivery.headers["webhook-signature"].split(" ")) == 1


def _settled(client: httpx.Client, hook: dict[str, Any], count: int) -> list[dict[str, Any]]:
    logs: list[dict[str, Any]] = _json(client.get(f"/webhooks/{hook['id']}/logs"), 200)
    done = len(logs) == count and all(log["status"] != "pending" for log in logs)
    return logs if done else []


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
