"""WAHA's ingest route under attack (issue 11, items 3 and 6), against a real `wahooks serve` on the
WAHA engine and a fake WAHA, on loopback.

- The body is capped far below the API's 50 MB (WAHOOKS_WAHA_MAX_EVENT_BYTES, 1 MiB by default):
  413 as soon as Content-Length says so, before a byte of the body is sent; 413 for a chunked body
  once 1 MiB has come. A 49 MB forged body used to be parsed whole (4.6 s, 1.6 GB) before its 401.
- The signature is checked before the document is parsed, with the key of the session the bytes
  name; the parsed document must then name that same session.
- Replays: an event needs an id and a timestamp within the window; ids are remembered in the
  database, so an event replayed after a restart is acknowledged and not delivered again.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from support.receiver import Receiver
from support.server import ServerProcess
from waha.conftest import WAHA_ENV
from waha.fake import FakeWaha
from waha.test_acceptance import CONTACT, hook, linked, post_event, signed, status, waha_key
from wahooks.engines.envelope import ulid

pytestmark = pytest.mark.acceptance

MIB = 1024 * 1024


@pytest.fixture
def client(waha_server: ServerProcess) -> Iterator[httpx.Client]:
    with waha_server.client() as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def _raw_request(server: ServerProcess, head: bytes, body: bytes = b"") -> bytes:
    """Send exactly these bytes and read the whole answer (its head, then Content-Length bytes),
    or what came before the server closed."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body)
        answer = b""
        while not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def _complete(answer: bytes) -> bool:
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator:
        return False
    found = re.search(rb"(?im)^content-length:\s*(\d+)\r?$", head)
    return found is None or len(body) >= int(found.group(1))


def _event(session: str, **fields: Any) -> dict[str, Any]:
    event = {"id": f"evt_{ulid()}", "timestamp": int(time.time() * 1000), "event": "message",
             "session": session, "payload": {"id": f"false_{CONTACT}_AAA", "from": CONTACT,
                                             "body": "hello"}}
    event.update(fields)
    return {key: value for key, value in event.items() if value is not None}


def _logs(client: httpx.Client, webhook_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(f"/webhooks/{webhook_id}/logs").json()
    return found


def test_a_body_declared_over_the_cap_is_refused_before_it_is_sent(
    waha_server: ServerProcess,
) -> None:
    # Only the head goes out: the 413 comes without the server waiting for 49 MB.
    head = (b"POST /api/events/waha HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nX-Webhook-Hmac: " + b"0" * 128 +
            b"\r\nContent-Length: " + str(49 * MIB).encode() + b"\r\n\r\n")
    answer = _raw_request(waha_server, head)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"The request body is over 1048576 bytes" in answer


def test_a_chunked_body_over_the_cap_is_refused_and_not_buffered(
    waha_server: ServerProcess,
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(2 * 16):  # 2 MiB of `{},` in 64 KiB chunks
            yield b"{}," * (64 * 1024 // 3)
        yield b"{}]"

    refused = httpx.post(waha_server.base_url + "/api/events/waha", content=chunks(),
                         headers={"X-Webhook-Hmac": "0" * 128}, timeout=30)
    assert refused.status_code == 413
    assert refused.json()["message"] == "The request body is over 1048576 bytes"


def test_a_body_just_under_the_cap_is_still_judged_by_its_signature(
    waha_server: ServerProcess,
) -> None:
    body = b"[" + b"{}," * ((MIB - 10) // 3) + b"{}]"
    assert len(body) <= MIB
    refused = post_event(waha_server, body, {"X-Webhook-Hmac": "0" * 128})
    assert refused.status_code == 401


def test_the_session_that_signed_must_be_the_session_the_event_names(
    waha_server: ServerProcess, client: httpx.Client, fake_waha: FakeWaha, receiver: Receiver,
) -> None:
    mine = linked(client, fake_waha)
    victim = linked(client, fake_waha)
    webhook_id = hook(client, victim["id"], receiver.url)
    # Signed with my own key, naming my session somewhere inside, but the victim's at the top.
    event = _event(victim["sessionName"], metadata={"session": mine["sessionName"]})
    body = json.dumps({"metadata": event.pop("metadata"), **event}).encode()
    refused = post_event(waha_server, body, signed(waha_key(fake_waha, mine["sessionName"]), body))
    assert refused.status_code == 401
    assert _logs(client, webhook_id) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": None}, "A WAHA event needs a string id (at most 200 characters)"),
        ({"id": ""}, "A WAHA event needs a string id (at most 200 characters)"),
        ({"id": 7}, "A WAHA event needs a string id (at most 200 characters)"),
        ({"timestamp": None}, "A WAHA event needs a numeric timestamp (milliseconds)"),
        ({"timestamp": "now"}, "A WAHA event needs a numeric timestamp (milliseconds)"),
        ({"timestamp": int((time.time() - 25 * 3600) * 1000)},
         "The WAHA event's timestamp is outside the accepted window (86400 s in the past, 300 s"
         " ahead)"),
        ({"timestamp": int((time.time() + 3600) * 1000)},
         "The WAHA event's timestamp is outside the accepted window (86400 s in the past, 300 s"
         " ahead)"),
    ],
)
def test_signed_events_without_an_id_or_outside_the_window_are_refused(
    waha_server: ServerProcess, client: httpx.Client, fake_waha: FakeWaha, receiver: Receiver,
    fields: dict[str, Any], message: str,
) -> None:
    connection = linked(client, fake_waha)
    webhook_id = hook(client, connection["id"], receiver.url)
    name = connection["sessionName"]
    body = json.dumps(_event(name, **fields)).encode()
    for _ in range(2):  # an event without an id used to be delivered each time it was sent
        refused = post_event(waha_server, body, signed(waha_key(fake_waha, name), body))
        assert refused.status_code == 400, refused.text
        assert refused.json()["message"] == message
    assert _logs(client, webhook_id) == []


def test_an_event_replayed_after_a_restart_is_not_delivered_again(
    waha_server: ServerProcess, client: httpx.Client, fake_waha: FakeWaha, receiver: Receiver,
) -> None:
    connection = linked(client, fake_waha)
    name = connection["sessionName"]
    webhook_id = hook(client, connection["id"], receiver.url)
    captured = fake_waha.inbound(name, CONTACT, "once")
    receiver.wait_for(2)  # message and message.any
    logged = len(_logs(client, webhook_id))
    key = waha_key(fake_waha, name)

    waha_server.stop()
    waha_server.start()
    with waha_server.client() as restarted:
        replayed = post_event(waha_server, captured, signed(key, captured))
        assert replayed.status_code == 201  # acknowledged, so WAHA stops retrying
        # Ingest stores before it answers: had the replay been taken, its deliveries would
        # already be in the log.
        assert len(_logs(restarted, webhook_id)) == logged
        fresh = json.dumps(_event(name)).encode()
        assert post_event(waha_server, fresh, signed(key, fresh)).status_code == 201
        assert len(_logs(restarted, webhook_id)) == logged + 1


def test_a_status_event_replayed_after_a_restart_changes_nothing(
    start_server: Callable[..., ServerProcess], fake_waha: FakeWaha,
) -> None:
    # No reconcile during the test: only events move the connection's status.
    server = start_server(waha_url=fake_waha.url, waha_api_key=fake_waha.api_key,
                          **{**WAHA_ENV, "waha_reconcile_interval": "3600"})
    with server.client() as client:
        connection = linked(client, fake_waha)
    name, key = connection["sessionName"], waha_key(fake_waha, connection["sessionName"])
    now = int(time.time() * 1000)
    failed = json.dumps(_event(name, event="session.status", timestamp=now,
                               payload={"name": name, "status": "FAILED"})).encode()
    working = json.dumps(_event(name, event="session.status", timestamp=now + 1,
                                payload={"name": name, "status": "WORKING"})).encode()
    for body in (failed, working):
        assert post_event(server, body, signed(key, body)).status_code == 201

    server.stop()
    server.start()
    # The captured FAILED, replayed once the server has forgotten which status came last: its
    # id was taken with it, so it is acknowledged and moves nothing.
    assert post_event(server, failed, signed(key, failed)).status_code == 201
    with server.client() as client:
        assert status(client, connection["id"]) == "connected"
