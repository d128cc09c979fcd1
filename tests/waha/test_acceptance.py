"""The WAHA engine end to end: a real `wahooks serve` drives a fake WAHA that checks every request
against WAHA's OpenAPI document and signs its events as WAHA does.

Create -> QR -> scan -> WORKING (a session.status event) -> inbound message -> the user's webhook
gets WAHA's very bytes; forged or unsigned events are refused and nothing is stored; WAHA down ->
503, and the reconcile loop repairs what happened meanwhile; two WAHA servers share sessions by
capacity.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from support.receiver import Receiver
from support.server import ServerProcess, wait_until
from waha.conftest import WAHA_ENV
from waha.fake import FakeWaha
from wahooks.engines.envelope import ulid

pytestmark = pytest.mark.acceptance

SESSION_NAME = re.compile(r"^u_[0-9a-f]{12}_s_[0-9a-f]{12}$")
CONTACT = "14155550123@c.us"
PHONE = "14155550199"


@pytest.fixture
def client(waha_server: ServerProcess) -> Iterator[httpx.Client]:
    with waha_server.client() as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def status(client: httpx.Client, connection_id: str) -> str:
    return str(client.get(f"/connections/{connection_id}").json()["status"])


def wait_status(client: httpx.Client, connection_id: str, expected: str,
                timeout: float = 8) -> dict[str, Any]:
    wait_until(lambda: status(client, connection_id) == expected, timeout)
    found: dict[str, Any] = client.get(f"/connections/{connection_id}").json()
    return found


def create(client: httpx.Client) -> dict[str, Any]:
    created = client.post("/connections")
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert body["status"] in ("pending", "scan_qr")
    return wait_status(client, body["id"], "scan_qr")


def linked(client: httpx.Client, fake: FakeWaha) -> dict[str, Any]:
    connection = create(client)
    fake.scan(connection["sessionName"], phone=PHONE)
    return wait_status(client, connection["id"], "connected")


def hook(client: httpx.Client, connection_id: str, url: str) -> str:
    made = client.post(f"/connections/{connection_id}/webhooks", json={"url": url, "events": ["*"]})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def post_event(server: ServerProcess, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.base_url + "/api/events/waha", content=body,
                      headers={"Content-Type": "application/json", **headers})


def signed(key: str, body: bytes) -> dict[str, str]:
    return {"X-Webhook-Hmac": hmac.new(key.encode(), body, hashlib.sha512).hexdigest(),
            "X-Webhook-Hmac-Algorithm": "sha512"}


def waha_key(fake: FakeWaha, session: str) -> str:
    return str(fake.session(session).config["webhooks"][0]["hmac"]["key"])


def test_scan_to_delivery_is_byte_identical(
    waha_server: ServerProcess, client: httpx.Client, fake_waha: FakeWaha, receiver: Receiver
) -> None:
    connection = create(client)
    name = connection["sessionName"]
    assert SESSION_NAME.match(name)
    config = fake_waha.session(name).config
    assert config["noweb"] == {"markOnline": True, "store": {"enabled": True, "fullSync": True}}
    (webhook,) = config["webhooks"]
    assert webhook["url"] == waha_server.base_url + "/api/events/waha"
    assert webhook["events"] == ["*"]
    assert re.fullmatch(r"[0-9a-f]{64}", webhook["hmac"]["key"])
    assert webhook["retries"] == {"policy": "exponential", "delaySeconds": 2, "attempts": 10}
    assert [c.operation for c in fake_waha.requests if c.method != "GET"] == [
        "SessionsController_create", "SessionsController_start"]

    qr = client.get(f"/connections/{connection['id']}/qr")
    assert qr.status_code == 200, qr.text
    assert qr.json()["mimetype"] == "image/png"
    assert base64.b64decode(qr.json()["value"]).startswith(b"\x89PNG\r\n\x1a\n")

    hook(client, connection["id"], receiver.url)
    fake_waha.scan(name, phone=PHONE)
    connected = wait_status(client, connection["id"], "connected")
    assert connected["phoneNumber"] == PHONE
    assert client.get(f"/connections/{connection['id']}/qr").json() == {"connected": True}
    me = client.get(f"/connections/{connection['id']}/me")
    assert me.json()["id"] == f"{PHONE}@c.us"

    sent = fake_waha.inbound(name, CONTACT, "Hi! Is my order #4821 shipped yet? 👋")
    fixtures = [fake_waha.emit_fixture(name, fixture) for fixture in
                ("message.image.json", "message.reaction.json", "group.v2.participants.json")]
    got = receiver.wait_for(6)
    bodies = {r.headers["X-WAHooks-Event"]: [] for r in got}  # type: dict[str, list[bytes]]
    for request in got:
        bodies[request.headers["X-WAHooks-Event"]].append(request.body)
    status_events = [d.body for d in fake_waha.delivered("session.status")]
    assert bodies["session.status"] == [status_events[-1]]  # WORKING, WAHA's own bytes
    assert bodies["message"] == [sent, fixtures[0]]
    assert bodies["message.reaction"] == [fixtures[1]]
    assert bodies["group.v2.participants"] == [fixtures[2]]
    assert json.loads(sent)["payload"]["body"].endswith("👋")


def test_forged_or_unsigned_events_are_refused_and_not_stored(
    waha_server: ServerProcess, client: httpx.Client, fake_waha: FakeWaha, receiver: Receiver
) -> None:
    connection = linked(client, fake_waha)
    other = create(client)
    webhook_id = hook(client, connection["id"], receiver.url)
    name = connection["sessionName"]
    key = waha_key(fake_waha, name)
    event = json.loads(fake_waha.delivered("session.status")[-1].body)
    event.update(session=name, event="message", payload={"body": "forged"})
    body = json.dumps(event).encode()
    attempts = {
        "unsigned": {},
        "wrong signature": {"X-Webhook-Hmac": "0" * 128},
        "another session's key": signed(waha_key(fake_waha, other["sessionName"]), body),
        "another algorithm": {**signed(key, body), "X-Webhook-Hmac-Algorithm": "sha256"},
        "signature of another body": signed(key, body + b" "),
    }
    for label, headers in attempts.items():
        refused = post_event(waha_server, body, headers)
        assert refused.status_code == 401, label
        assert refused.json() == {"message": "Invalid or missing X-Webhook-Hmac signature",
                                  "error": "Unauthorized", "statusCode": 401}
    unknown = json.dumps({**event, "session": "u_000000000000_s_000000000000"}).encode()
    assert post_event(waha_server, unknown, signed(key, unknown)).status_code == 401
    assert post_event(waha_server, b"not json", signed(key, b"not json")).status_code == 401
    assert client.get(f"/webhooks/{webhook_id}/logs").json() == []

    # WAHA's bytes are kept as they are, however they are written.
    odd = (b'{ "session" : "' + name.encode() + b'", "event": "message", "payload":'
           b' {"body": "caf\\u00e9", "n": 1.0}, "id": "evt_1", "timestamp": '
           + str(int(time.time() * 1000)).encode() + b' }')
    accepted = post_event(waha_server, odd, signed(key, odd))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json() == {"received": True}
    (delivered,) = receiver.wait_for(1)
    assert delivered.body == odd
    assert len(client.get(f"/webhooks/{webhook_id}/logs").json()) == 1


def test_waha_down_answers_503_and_the_reconciler_recovers(
    client: httpx.Client, fake_waha: FakeWaha
) -> None:
    connection = linked(client, fake_waha)
    cid = connection["id"]
    fake_waha.down()
    for response in (
        client.get(f"/connections/{cid}/me"),
        client.post(f"/connections/{cid}/send", json={"chatId": CONTACT, "text": "hello"}),
        client.get(f"/connections/{cid}/chats"),
    ):
        assert response.status_code == 503, response.text
        assert response.json()["message"] == (
            "The WhatsApp engine is unreachable right now; please retry"
        )
        assert fake_waha.url not in response.text  # internal addresses stay in the log
    made_meanwhile = client.post("/connections")
    assert made_meanwhile.status_code == 201
    assert made_meanwhile.json()["status"] == "pending"
    restarted = client.post(f"/connections/{cid}/restart")
    assert restarted.status_code == 503

    fake_waha.restart_waha(wipe=False)  # it comes back with its sessions stopped
    fake_waha.up()
    wait_status(client, made_meanwhile.json()["id"], "scan_qr")
    # The linked session is started again, not reset: no new scan is needed.
    wait_until(lambda: fake_waha.session(connection["sessionName"]).status == "WORKING", 8)
    assert wait_status(client, cid, "connected")["phoneNumber"] == PHONE
    assert fake_waha.calls("SessionsController_logout") == []
    sent = client.post(f"/connections/{cid}/send",
                       json={"chatId": CONTACT, "text": "back", "skipPresence": True})
    assert sent.status_code == 201, sent.text


def test_the_reconciler_repairs_lost_events_and_a_wiped_waha(
    client: httpx.Client, fake_waha: FakeWaha
) -> None:
    connection = create(client)
    name = connection["sessionName"]
    fake_waha.set_status(name, "WORKING", emit=False, phone="14155550177")
    assert wait_status(client, connection["id"], "connected")["phoneNumber"] == "14155550177"

    key_before = waha_key(fake_waha, name)
    fake_waha.restart_waha(wipe=True)
    wait_status(client, connection["id"], "scan_qr")
    assert waha_key(fake_waha, name) == key_before


def test_status_follows_failed_and_stopped(client: httpx.Client, fake_waha: FakeWaha) -> None:
    waiting = create(client)
    fake_waha.set_status(waiting["sessionName"], "FAILED")
    wait_status(client, waiting["id"], "failed")
    # An unscanned session that failed is not reset behind the user's back...
    restarts = len(fake_waha.calls("SessionsController_create"))
    wait_until(lambda: len(fake_waha.calls("SessionsController_list")) >= 3)
    assert status(client, waiting["id"]) == "failed"
    assert len(fake_waha.calls("SessionsController_create")) == restarts
    # ... asking for its QR code does: a fresh session, then a QR code.
    assert client.get(f"/connections/{waiting['id']}/qr").status_code == 503
    wait_until(lambda: client.get(f"/connections/{waiting['id']}/qr").status_code == 200)

    working = linked(client, fake_waha)
    creates = len(fake_waha.calls("SessionsController_create"))
    fake_waha.set_status(working["sessionName"], "STOPPED")
    assert client.get(f"/connections/{working['id']}/qr").status_code in (200, 503)
    wait_until(lambda: fake_waha.calls("SessionsController_start")
               and fake_waha.session(working["sessionName"]).status == "WORKING")
    wait_status(client, working["id"], "connected")
    # Started again as it was: no reset, no logout, so no new scan.
    assert len(fake_waha.calls("SessionsController_create")) == creates
    assert fake_waha.calls("SessionsController_logout") == []
    listed = client.get("/connections").json()
    assert {c["id"] for c in listed} >= {waiting["id"], working["id"]}


def test_delete_while_waha_is_down_finishes_when_it_is_back(
    client: httpx.Client, fake_waha: FakeWaha
) -> None:
    connection = linked(client, fake_waha)
    fake_waha.down()
    deleted = client.delete(f"/connections/{connection['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "stopped"
    fake_waha.up()
    wait_until(lambda: connection["sessionName"] not in fake_waha.sessions)
    assert client.get("/connections").json() == []


def test_restart_is_a_full_reset(client: httpx.Client, fake_waha: FakeWaha) -> None:
    connection = linked(client, fake_waha)
    restarted = client.post(f"/connections/{connection['id']}/restart")
    assert restarted.status_code == 201, restarted.text
    assert restarted.json()["status"] == "scan_qr"
    operations = [r.operation for r in fake_waha.requests if r.method != "GET"]
    assert operations[-3:] == ["SessionsController_delete", "SessionsController_create",
                               "SessionsController_start"]
    wait_until(lambda: fake_waha.session(connection["sessionName"]).status == "SCAN_QR_CODE")
    assert fake_waha.session(connection["sessionName"]).me is None


def test_waha_refusals_are_clear_errors(client: httpx.Client, fake_waha: FakeWaha) -> None:
    connection = create(client)
    refused = client.post(f"/connections/{connection['id']}/send",
                          json={"chatId": CONTACT, "text": "too early", "skipPresence": True})
    assert refused.status_code == 409
    assert refused.json()["message"].startswith("Session status is not as expected")
    missing = client.get(f"/connections/{connection['id']}/messages/true_{CONTACT}_NOPE")
    assert missing.status_code == 404


def test_a_waha_that_does_not_answer_times_out_as_a_503(
    start_server: Callable[..., ServerProcess], fake_waha: FakeWaha
) -> None:
    server = start_server(waha_url=fake_waha.url, waha_api_key=fake_waha.api_key,
                          **{**WAHA_ENV, "waha_timeout": "0.5"})
    with server.client() as client:
        connection = linked(client, fake_waha)
        fake_waha.delay = 1.5
        try:
            slow = client.get(f"/connections/{connection['id']}/me")
        finally:
            fake_waha.delay = 0
        assert slow.status_code == 503
        assert slow.json()["message"] == "The WhatsApp engine did not answer in time; please retry"
        assert slow.elapsed.total_seconds() < 1.4


def test_a_wrong_api_key_is_a_502_not_a_500(
    start_server: Callable[..., ServerProcess], fake_waha: FakeWaha
) -> None:
    server = start_server(waha_url=fake_waha.url, waha_api_key="wrong", **WAHA_ENV)
    with server.client() as client:
        created = client.post("/connections")
        assert created.status_code == 502
        assert "WAHA answered POST /api/sessions with 401" in created.json()["message"]
        assert client.get("/connections").json() == []
    fake_waha.violations.clear()  # the wrong key was the point


def test_two_waha_servers_share_sessions_by_capacity(
    start_server: Callable[..., ServerProcess], make_fake_waha: Callable[..., FakeWaha]
) -> None:
    big, small = make_fake_waha(), make_fake_waha()
    server = start_server(
        waha_url=f"{big.url},{small.url}", waha_api_key=big.api_key, waha_capacity="2,1",
        **WAHA_ENV,
    )
    with server.client() as client:
        made = [create(client) for _ in range(3)]
        assert {c["sessionName"] for c in made} == set(big.sessions) | set(small.sessions)
        assert (len(big.sessions), len(small.sessions)) == (2, 1)
        full = client.post("/connections")
        assert full.status_code == 503
        assert "at capacity" in full.json()["message"]
        assert len(client.get("/connections").json()) == 3  # the refused one is not left behind
        on_big = next(c for c in made if c["sessionName"] in big.sessions)
        assert client.delete(f"/connections/{on_big['id']}").status_code == 200
        again = create(client)
        assert again["sessionName"] in big.sessions
        # Each session's events come in from its own server.
        small.scan(next(iter(small.sessions)))
        wait_until(lambda: any(c["status"] == "connected" for c in client.get("/connections").json()))


def test_get_or_create_answers_a_qr_code(client: httpx.Client, fake_waha: FakeWaha) -> None:
    made = client.post("/connections/get-or-create", json={"virgin_only": True})
    assert made.status_code == 201, made.text
    assert base64.b64decode(made.json()["qr"]).startswith(b"\x89PNG")
    again = client.post("/connections/get-or-create")
    assert again.json()["id"] == made.json()["id"]
    assert base64.b64decode(again.json()["qr"]).startswith(b"\x89PNG")


def test_the_raw_qr_text_comes_from_waha(client: httpx.Client, fake_waha: FakeWaha) -> None:
    connection = create(client)
    wait_until(lambda: client.get(
        f"/connections/{connection['id']}/qr", params={"format": "raw"}).status_code == 200)
    raw = client.get(f"/connections/{connection['id']}/qr", params={"format": "raw"}).json()
    assert raw == {"value": fake_waha.sessions[connection["sessionName"]].qr}


def test_working_without_me_asks_waha_for_the_phone(
    start_server: Callable[..., ServerProcess], fake_waha: FakeWaha
) -> None:
    # The reconciler runs once at start, then not again during this test.
    server = start_server(waha_url=fake_waha.url, waha_api_key=fake_waha.api_key,
                          **{**WAHA_ENV, "waha_reconcile_interval": "600"})
    with server.client() as client:
        connection = create(client)
        name = connection["sessionName"]
        fake_waha.set_status(name, "WORKING", emit=False, phone="14155550166")
        event = json.loads(fake_waha.delivered("session.status")[-1].body)
        event.pop("me", None)
        event["payload"]["status"] = "WORKING"
        event["id"] = f"evt_{ulid()}"  # a new event (a repeated id would be taken once)
        body = json.dumps(event).encode()
        accepted = post_event(server, body, signed(waha_key(fake_waha, name), body))
        assert accepted.status_code == 201
        assert wait_status(client, connection["id"], "connected")["phoneNumber"] == "14155550166"


def test_a_repeated_event_is_delivered_once(
    waha_server: ServerProcess, client: httpx.Client, fake_waha: FakeWaha, receiver: Receiver
) -> None:
    connection = linked(client, fake_waha)
    name = connection["sessionName"]
    hook(client, connection["id"], receiver.url)
    sent = fake_waha.inbound(name, CONTACT, "once")
    receiver.wait_for(2)  # message and message.any
    # WAHA retrying (its answer was lost) or someone replaying a captured event: same bytes,
    # same signature, accepted and ignored.
    again = post_event(waha_server, sent, signed(waha_key(fake_waha, name), sent))
    assert again.status_code == 201
    time.sleep(0.5)
    assert [r.body for r in receiver.requests if r.headers["X-WAHooks-Event"] == "message"] == [
        sent
    ]
