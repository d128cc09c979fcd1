"""The sandbox engine's routes: POST /api/connections/:id/sandbox/scan|inbound|presence, and the
events they make flow to webhooks (compat.md 1.3, 1.5, 2.5)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.contract import (
    MALFORMED_IDS,
    UNKNOWN_ID,
    assert_bad_request,
    assert_connection,
    assert_error,
    assert_log,
    assert_unauthorized,
    assert_validation,
    json_values,
)
from support.receiver import Receiver
from support.server import ServerProcess, connected_connection
from wahooks.engines.sandbox.engine import HISTORY_KEPT

CONTACT = "14155550123@c.us"
MESSAGE_ID = re.compile(r"^false_14155550123@c\.us_3EB0[0-9A-F]{16}$")
FROM_ERROR = "from must be a WhatsApp contact id such as 14155550123@c.us"
PRESENCE_ERROR = "presence must be one of: online, offline, typing, recording, paused"
ROUTES = ["/sandbox/scan", "/sandbox/inbound", "/sandbox/presence"]
ENVELOPE_KEYS = {"id", "timestamp", "event", "session", "metadata", "me", "payload", "engine",
                 "environment"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def hook(client: httpx.Client, connection_id: str, url: str, events: list[str]) -> dict[str, Any]:
    response = client.post(f"/connections/{connection_id}/webhooks",
                           json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def events_of(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    return [json.loads(request.body) for request in receiver.wait_for(count)]


def inbound(client: httpx.Client, connection_id: str, text: str, sender: str = CONTACT) -> str:
    response = client.post(f"/connections/{connection_id}/sandbox/inbound",
                           json={"from": sender, "body": text})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# scan --------------------------------------------------------------------------------------------


def test_scan_links_the_connection(owner: httpx.Client, owner_id: str) -> None:
    created = owner.post("/connections").json()
    response = owner.post(f"/connections/{created['id']}/sandbox/scan")
    assert response.status_code == 201
    body = response.json()
    assert_connection(body, status="connected", user_id=owner_id)
    assert body["id"] == created["id"]
    assert re.fullmatch(r"1555\d{7}", body["phoneNumber"]), body["phoneNumber"]
    assert owner.get(f"/connections/{created['id']}").json() == body


def test_scan_twice_is_harmless(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    again = owner.post(f"/connections/{connection['id']}/sandbox/scan")
    assert again.status_code == 201
    assert again.json()["status"] == "connected"
    assert again.json()["phoneNumber"] == connection["phoneNumber"]


def test_scan_emits_session_status_working(owner: httpx.Client, receiver: Receiver) -> None:
    created = owner.post("/connections").json()
    hook(owner, created["id"], receiver.url, ["session.status"])
    linked = owner.post(f"/connections/{created['id']}/sandbox/scan").json()
    (event,) = events_of(receiver, 1)
    assert set(event) == ENVELOPE_KEYS
    assert event["event"] == "session.status"
    assert event["session"] == created["sessionName"]
    assert event["engine"] == "NOWEB"
    assert event["payload"]["status"] == "WORKING"
    assert event["me"]["id"] == f"{linked['phoneNumber']}@c.us"


def test_a_deleted_connection_cannot_be_scanned(owner: httpx.Client) -> None:
    created = owner.post("/connections").json()
    owner.delete(f"/connections/{created['id']}")
    response = owner.post(f"/connections/{created['id']}/sandbox/scan")
    assert_error(response, 409, "Connection is stopped, not waiting for a QR scan;"
                                " restart it to get a new QR code")
    assert owner.get(f"/connections/{created['id']}").json()["status"] == "stopped"


def test_a_restarted_connection_can_be_scanned_again(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    assert owner.post(f"/connections/{connection['id']}/restart").json()["status"] == "scan_qr"
    again = owner.post(f"/connections/{connection['id']}/sandbox/scan")
    assert again.status_code == 201
    assert again.json()["status"] == "connected"


# inbound -----------------------------------------------------------------------------------------


def test_inbound_delivers_message_and_message_any(owner: httpx.Client, receiver: Receiver) -> None:
    connection = connected_connection(owner)
    everything = hook(owner, connection["id"], receiver.url, ["*"])
    response = owner.post(f"/connections/{connection['id']}/sandbox/inbound",
                          json={"from": CONTACT, "body": "hello"})
    assert response.status_code == 201
    assert list(response.json()) == ["id"]
    message_id = response.json()["id"]
    assert MESSAGE_ID.match(message_id), message_id

    events = {event["event"]: event for event in events_of(receiver, 2)}
    assert set(events) == {"message", "message.any"}
    for event in events.values():
        assert set(event) == ENVELOPE_KEYS
        assert event["session"] == connection["sessionName"]
        assert event["me"]["id"] == f"{connection['phoneNumber']}@c.us"
        payload = event["payload"]
        assert payload["id"] == message_id
        assert payload["from"] == CONTACT
        assert payload["fromMe"] is False
        assert payload["body"] == "hello"
        assert payload["hasMedia"] is False
    assert events["message"]["payload"] == events["message.any"]["payload"]

    rows = owner.get(f"/webhooks/{everything['id']}/logs").json()
    assert sorted(row["eventType"] for row in rows) == ["message", "message.any"]
    for row in rows:
        assert_log(row, webhook_id=everything["id"])
        assert row["payload"] == events[row["eventType"]]


def test_inbound_goes_only_to_webhooks_that_want_it(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    with Receiver() as messages, Receiver() as presences:
        hook(owner, connection["id"], messages.url, ["message"])
        hook(owner, connection["id"], presences.url, ["presence.update"])
        inbound(owner, connection["id"], "one")
        (event,) = events_of(messages, 1)
        assert event["event"] == "message"
        time.sleep(0.3)  # message.any would have reached `messages` by now, if it were sent
        assert len(messages.requests) == 1
        assert presences.requests == []


def test_an_inactive_webhook_gets_nothing(owner: httpx.Client, receiver: Receiver) -> None:
    connection = connected_connection(owner)
    paused = hook(owner, connection["id"], receiver.url, ["message"])
    owner.put(f"/webhooks/{paused['id']}", json={"active": False})
    inbound(owner, connection["id"], "not for you")
    time.sleep(0.3)
    assert receiver.requests == []
    assert owner.get(f"/webhooks/{paused['id']}/logs").json() == []
    owner.put(f"/webhooks/{paused['id']}", json={"active": True})
    inbound(owner, connection["id"], "for you")
    (event,) = events_of(receiver, 1)
    assert event["payload"]["body"] == "for you"


def test_a_whatsapp_net_sender_is_written_as_c_us(owner: httpx.Client, receiver: Receiver) -> None:
    connection = connected_connection(owner)
    hook(owner, connection["id"], receiver.url, ["message"])
    message_id = inbound(owner, connection["id"], "hi", sender="14155550123@s.whatsapp.net")
    assert MESSAGE_ID.match(message_id)
    (event,) = events_of(receiver, 1)
    assert event["payload"]["from"] == CONTACT


def test_inbound_shows_up_in_chats(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    inbound(owner, connection["id"], "first", sender="14155550001@c.us")
    inbound(owner, connection["id"], "second", sender="14155550002@c.us")
    inbound(owner, connection["id"], "third", sender="14155550001@c.us")
    chats = owner.get(f"/connections/{connection['id']}/chats").json()
    assert {chat["id"] for chat in chats} == {"14155550001@c.us", "14155550002@c.us"}
    latest = {chat["id"]: chat["lastMessage"] for chat in chats}
    assert latest["14155550001@c.us"]["body"] == "third"
    assert latest["14155550001@c.us"]["fromMe"] is False
    assert latest["14155550002@c.us"]["body"] == "second"
    for chat in chats:
        assert "name" in chat
    assert len(owner.get(f"/connections/{connection['id']}/chats", params={"limit": 1}).json()) == 1


def test_a_chat_remembers_only_its_newest_messages(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    for n in range(HISTORY_KEPT + 1):
        inbound(owner, connection["id"], f"message {n}")
    kept = owner.get(
        f"/connections/{connection['id']}/chats/{CONTACT}/messages", params={"limit": 500}
    ).json()
    assert [m["body"] for m in kept["messages"]] == [
        f"message {n}" for n in range(HISTORY_KEPT, 0, -1)  # newest first; "message 0" is gone
    ]


def test_inbound_needs_a_linked_connection(owner: httpx.Client) -> None:
    created = owner.post("/connections").json()
    response = owner.post(f"/connections/{created['id']}/sandbox/inbound",
                          json={"from": CONTACT, "body": "too early"})
    assert_error(response, 409, "Connection is not connected; link it first with"
                                f" POST /api/connections/{created['id']}/sandbox/scan")


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({}, ["from must be a non-empty string", "body must be a string"]),
        ({"from": None, "body": None}, ["from must be a non-empty string", "body must be a string"]),
        ({"from": CONTACT}, ["body must be a string"]),
        ({"from": CONTACT, "body": 5}, ["body must be a string"]),
        ({"body": "x"}, ["from must be a non-empty string"]),
        ({"from": 14155550123, "body": "x"}, ["from must be a non-empty string"]),
        ({"from": "bob", "body": "x"}, [FROM_ERROR]),
        ({"from": "14155550123", "body": "x"}, [FROM_ERROR]),
        ({"from": "1203630@g.us", "body": "x"}, [FROM_ERROR]),
        # Matched exactly: no trailing newline (`$` matched before one), ASCII digits only (`\d`
        # took Arabic-Indic digits), and both reached webhooks as they were.
        ({"from": CONTACT + "\n", "body": "x"}, [FROM_ERROR]),
        ({"from": "\u0661\u0664\u0661\u0665\u0665\u0665\u0660\u0661\u0662\u0663@c.us",
          "body": "x"}, [FROM_ERROR]),
        ({"from": "\uff11\uff14\uff11\uff15\uff15@c.us", "body": "x"}, [FROM_ERROR]),
        ({"from": CONTACT, "body": "x" * 65_537},
         ["body must be shorter than or equal to 65536 characters"]),
    ],
)
def test_inbound_validates(
    owner: httpx.Client, receiver: Receiver, body: dict[str, Any], messages: list[str]
) -> None:
    connection = connected_connection(owner)
    hook(owner, connection["id"], receiver.url, ["*"])
    response = owner.post(f"/connections/{connection['id']}/sandbox/inbound", json=body)
    assert assert_validation(response, *messages) == messages
    assert owner.get(f"/connections/{connection['id']}/chats").json() == []
    assert receiver.requests == []


def test_inbound_accepts_the_longest_body(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    inbound(owner, connection["id"], "x" * 65_536)


@pytest.mark.parametrize("route", ["/sandbox/inbound", "/sandbox/presence"])
def test_malformed_json_is_400(owner: httpx.Client, route: str) -> None:
    connection = connected_connection(owner)
    response = owner.post(f"/connections/{connection['id']}{route}", content=b'{"from": ',
                          headers={"Content-Type": "application/json"})
    assert_bad_request(response)
    assert isinstance(response.json()["message"], str)


# presence ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["online", "offline", "typing", "recording", "paused"])
def test_presence_is_delivered(owner: httpx.Client, receiver: Receiver, state: str) -> None:
    connection = connected_connection(owner)
    hook(owner, connection["id"], receiver.url, ["presence.update"])
    response = owner.post(f"/connections/{connection['id']}/sandbox/presence",
                          json={"from": CONTACT, "presence": state})
    assert response.status_code == 201
    assert response.json() == {"success": True}
    (event,) = events_of(receiver, 1)
    assert event["event"] == "presence.update"
    assert event["session"] == connection["sessionName"]
    assert event["payload"]["id"] == CONTACT
    (presence,) = event["payload"]["presences"]
    assert presence["participant"] == CONTACT
    assert presence["lastKnownPresence"] == state


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({}, ["from must be a non-empty string", PRESENCE_ERROR]),
        ({"from": CONTACT}, [PRESENCE_ERROR]),
        ({"from": CONTACT, "presence": "TYPING"}, [PRESENCE_ERROR]),
        ({"from": CONTACT, "presence": ["typing"]}, [PRESENCE_ERROR]),
        ({"from": "x@c.us", "presence": "typing"}, [FROM_ERROR]),
    ],
)
def test_presence_validates(
    owner: httpx.Client, receiver: Receiver, body: dict[str, Any], messages: list[str]
) -> None:
    connection = connected_connection(owner)
    hook(owner, connection["id"], receiver.url, ["*"])
    response = owner.post(f"/connections/{connection['id']}/sandbox/presence", json=body)
    assert assert_validation(response, *messages) == messages
    time.sleep(0.2)
    assert receiver.requests == []


def test_presence_needs_a_linked_connection(owner: httpx.Client) -> None:
    created = owner.post("/connections").json()
    response = owner.post(f"/connections/{created['id']}/sandbox/presence",
                          json={"from": CONTACT, "presence": "typing"})
    assert_error(response, 409)


# errors common to the routes ---------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("connection_id", [UNKNOWN_ID, *MALFORMED_IDS])
def test_unknown_connection_is_404(owner: httpx.Client, route: str, connection_id: str) -> None:
    response = owner.post(f"/connections/{connection_id}{route}",
                          json={"from": CONTACT, "body": "x", "presence": "typing"})
    assert_error(response, 404, "Connection not found")


@pytest.mark.parametrize("route", ROUTES)
def test_another_account_is_403(
    owner: httpx.Client, bob: httpx.Client, receiver: Receiver, route: str
) -> None:
    created = owner.post("/connections").json()
    if route != "/sandbox/scan":
        owner.post(f"/connections/{created['id']}/sandbox/scan")
    hook(owner, created["id"], receiver.url, ["*"])
    before = owner.get(f"/connections/{created['id']}").json()
    response = bob.post(f"/connections/{created['id']}{route}",
                        json={"from": CONTACT, "body": "x", "presence": "typing"})
    assert_error(response, 403, "You do not own this connection")
    time.sleep(0.2)
    assert owner.get(f"/connections/{created['id']}").json() == before
    assert [json.loads(r.body)["event"] for r in receiver.requests] == []


@pytest.mark.parametrize("route", ROUTES)
def test_sandbox_routes_require_auth(server: ServerProcess, route: str) -> None:
    assert_unauthorized(server.base_url + "/api", "POST", f"/connections/{UNKNOWN_ID}{route}")


# properties --------------------------------------------------------------------------------------

FIELDS = st.sampled_from(["from", "body", "presence"])
SENDERS = st.sampled_from([CONTACT, "14155550123@s.whatsapp.net", "123@c.us", "x", ""])


@pytest.fixture(scope="module")
def linked(owner: httpx.Client) -> dict[str, Any]:
    """A connected connection with no webhooks: events it makes go nowhere."""
    return connected_connection(owner)


@settings(max_examples=30, deadline=None)
@given(body=st.fixed_dictionaries({}, optional={"from": SENDERS | json_values(),
                                                "body": st.text(max_size=20) | json_values(),
                                                "presence": st.sampled_from(["typing", "x"])})
       | json_values(FIELDS),
       route=st.sampled_from(["/sandbox/inbound", "/sandbox/presence"]))
def test_sandbox_bodies_answer_201_or_400_never_500(
    owner: httpx.Client, linked: dict[str, Any], body: Any, route: str
) -> None:
    response = owner.post(f"/connections/{linked['id']}{route}", json=body)
    if response.status_code == 201:
        assert isinstance(body, dict) and body["from"] in (CONTACT, "14155550123@s.whatsapp.net")
    else:
        assert_bad_request(response)


def test_the_waha_ingest_route_is_not_served_on_the_sandbox(owner: httpx.Client) -> None:
    response = owner.post("/events/waha", content=b'{"event": "message", "session": "x"}')
    assert_error(response, 404, "Cannot POST /api/events/waha")
