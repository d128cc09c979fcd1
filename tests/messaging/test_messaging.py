"""The messaging API (compat.md 1.3, 1.4) on both engines, with the bodies the official Python SDK
sends (every optional key present, the unused ones as null)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import pytest

from api.contract import UNKNOWN_ID, assert_error, assert_validation
from messaging.conftest import CONTACT, Backend
from support.receiver import Receiver
from support.server import wait_until

SENT_ID = re.compile(r"^true_14155550123@c\.us_[0-9A-F]+$")
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()


def hook(client: httpx.Client, connection: dict[str, Any], receiver: Receiver) -> None:
    made = client.post(f"/connections/{connection['id']}/webhooks",
                       json={"url": receiver.url, "events": ["message.any", "message.ack"]})
    assert made.status_code == 201, made.text


def events(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.wait_for(count)]


def url(connection: dict[str, Any], path: str) -> str:
    return f"/connections/{connection['id']}/{path}"


def test_send_answers_201_with_the_engines_answer_and_a_normalised_id(
    backend: Backend, client: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    hook(client, connection, receiver)
    sent = client.post(url(connection, "send"), json={
        "chatId": CONTACT, "text": "Your order has shipped.", "skipPresence": False,
        "replyTo": None,
    })
    assert sent.status_code == 201, sent.text
    answer = sent.json()
    assert SENT_ID.match(answer["id"])
    assert isinstance(answer["timestamp"], int)
    assert answer["key"]["id"] == answer["id"].rsplit("_", 1)[1]  # NOWEB's own answer, kept
    assert answer["status"] == "PENDING"
    got = events(receiver, 3)  # deliveries run in parallel: their order is not guaranteed
    (any_event,) = [e for e in got if e["event"] == "message.any"]
    acks = sorted((e for e in got if e["event"] == "message.ack"),
                  key=lambda e: e["payload"]["ack"])
    payload = any_event["payload"]
    assert (payload["id"], payload["fromMe"], payload["source"], payload["ack"],
            payload["ackName"], payload["body"]) == (
        answer["id"], True, "api", 0, "PENDING", "Your order has shipped.")
    assert [(a["event"], a["payload"]["ackName"]) for a in acks] == [
        ("message.ack", "SERVER"), ("message.ack", "DEVICE")]
    assert all(a["payload"]["id"] == answer["id"] for a in acks)


@pytest.mark.parametrize("backend", ["waha"], indirect=True)  # the sandbox has no typing to see
def test_presence_comes_first_unless_skipped(
    backend: Backend, client: httpx.Client, connection: dict[str, Any]
) -> None:
    fake = backend.fake
    assert fake is not None
    before = len(fake.requests)
    for skip in (False, True):
        sent = client.post(url(connection, "send"),
                           json={"chatId": "14155550123", "text": "hi", "skipPresence": skip})
        assert sent.status_code == 201, sent.text
    calls = [(r.operation.split("_")[1], r.body["chatId"]) for r in fake.requests[before:]
             if r.method == "POST"]
    assert calls == [("sendSeen", CONTACT), ("startTyping", CONTACT), ("stopTyping", CONTACT),
                     ("sendText", CONTACT), ("sendText", CONTACT)]


def test_reply_to_reaches_waha_as_reply_to(
    backend: Backend, client: httpx.Client, connection: dict[str, Any]
) -> None:
    incoming = backend.inbound(client, connection, "Is it shipped?")
    sent = client.post(url(connection, "send"), json={
        "chatId": CONTACT, "text": "Yes", "skipPresence": True, "replyTo": incoming})
    assert sent.status_code == 201, sent.text
    if backend.fake is not None:
        assert backend.fake.calls("ChattingController_sendText")[-1].body["reply_to"] == incoming
    found = client.get(url(connection, f"messages/{sent.json()['id']}"),
                       params={"chatId": CONTACT})
    assert found.json()["replyTo"]["id"] == incoming


@pytest.mark.parametrize(
    ("path", "body", "waha_call"),
    [
        ("send-image", {"url": "https://example.com/a.jpg", "data": None, "mimetype": None,
                        "caption": "the box"}, "sendImage"),
        ("send-image", {"url": None, "data": f"data:image/png;base64,{PNG}", "mimetype": None,
                        "caption": None}, "sendImage"),
        ("send-document", {"url": None, "data": PNG, "mimetype": "application/pdf",
                           "filename": "invoice.pdf", "caption": None}, "sendFile"),
        ("send-video", {"url": "https://example.com/v.mp4", "data": None, "mimetype": None,
                        "caption": "watch"}, "sendVideo"),
        ("send-audio", {"url": None, "data": PNG, "mimetype": "audio/mpeg"}, "sendVoice"),
        ("send-location", {"latitude": 38.8937, "longitude": -77.0969, "name": "Our office",
                           "address": None}, "sendLocation"),
        ("send-contact", {"contactName": "Jane Doe", "contactPhone": "+1 415 555 0123"},
         "sendContactVcard"),
    ],
)
def test_every_kind_of_message_is_sent(
    backend: Backend, client: httpx.Client, connection: dict[str, Any], path: str,
    body: dict[str, Any], waha_call: str,
) -> None:
    sent = client.post(url(connection, path),
                       json={"chatId": CONTACT, "skipPresence": True, **body})
    assert sent.status_code == 201, sent.text
    assert SENT_ID.match(sent.json()["id"])
    if backend.fake is not None:
        assert backend.fake.calls(f"ChattingController_{waha_call}")
    found = client.get(url(connection, f"messages/{sent.json()['id']}"),
                       params={"chatId": CONTACT}).json()
    if path == "send-location":
        assert found["location"]["name"] == "Our office"
    if path == "send-contact":
        assert "waid=14155550123:+14155550123" in found["vCards"][0]


def test_media_sent_inline_comes_back_through_the_proxy(
    backend: Backend, client: httpx.Client, connection: dict[str, Any]
) -> None:
    sent = client.post(url(connection, "send-image"), json={
        "chatId": CONTACT, "data": PNG, "mimetype": "image/png", "skipPresence": True})
    message_id = sent.json()["id"]
    media = client.get(url(connection, f"messages/{message_id}/media"), params={"chatId": CONTACT})
    assert media.status_code == 200, media.text
    assert media.content == base64.b64decode(PNG)
    assert media.headers["content-type"].startswith("image/png")
    found = client.get(url(connection, f"messages/{message_id}"), params={"chatId": CONTACT})
    filename = found.json()["media"]["url"].rsplit("/", 1)[1]
    by_name = client.get(url(connection, f"media/{filename}"))
    assert by_name.status_code == 200
    assert by_name.content == base64.b64decode(PNG)


@pytest.mark.parametrize("filename", ["..%2F..%2Fetc%2Fpasswd", "a..b", "a%5Cb", "x%2Fy"])
def test_media_filenames_that_escape_are_refused(
    client: httpx.Client, connection: dict[str, Any], filename: str
) -> None:
    assert_error(client.get(url(connection, f"media/{filename}")), 404, "Invalid filename")


def test_unknown_media_is_404(client: httpx.Client, connection: dict[str, Any]) -> None:
    assert_error(client.get(url(connection, "media/nothing.jpeg")), 404, "Media not found")
    assert_error(client.get(url(connection, f"messages/true_{CONTACT}_NONE/media"),
                            params={"chatId": CONTACT}), 404, "Media not found")


@pytest.mark.parametrize(
    ("path", "body", "messages"),
    [
        ("send", {}, ["chatId must be a non-empty string", "text must be a non-empty string"]),
        ("send", {"chatId": None, "text": None, "skipPresence": None},
         ["chatId must be a non-empty string", "text must be a non-empty string"]),
        ("send", {"chatId": "bob", "text": "x"},
         ["chatId must be a WhatsApp chat id such as 14155550123@c.us"]),
        ("send", {"chatId": CONTACT, "text": "x", "skipPresence": "yes"},
         ["skipPresence must be a boolean value"]),
        ("send-image", {"chatId": CONTACT}, ["url or data must be given"]),
        ("send-image", {"chatId": CONTACT, "url": "https://x/a.jpg", "data": PNG},
         ["give either url or data, not both"]),
        ("send-image", {"chatId": CONTACT, "data": "not base64!"},
         ["data must be base64-encoded file content"]),
        ("send-image", {"chatId": CONTACT, "url": "file:///etc/passwd"},
         ["url must be an http or https URL"]),
        ("send-location", {"chatId": CONTACT, "latitude": 91, "longitude": "x"},
         ["latitude must be between -90 and 90", "longitude must be a number"]),
        ("send-contact", {"chatId": CONTACT, "contactName": "Jane", "contactPhone": "call me"},
         ["contactPhone must be a phone number such as +14155550123"]),
        ("react", {"chatId": CONTACT, "messageId": "m"},
         ["reaction must be a string (an emoji, or empty to remove the reaction)"]),
        ("mark-read", {"chatId": None}, ["chatId must be a non-empty string"]),
    ],
)
def test_bodies_are_validated(
    client: httpx.Client, connection: dict[str, Any], path: str, body: dict[str, Any],
    messages: list[str],
) -> None:
    assert assert_validation(client.post(url(connection, path), json=body), *messages) == messages


def test_react_read_and_typing_answer_success(
    backend: Backend, client: httpx.Client, connection: dict[str, Any]
) -> None:
    incoming = backend.inbound(client, connection, "Thanks!")
    for path, body in [
        ("react", {"chatId": CONTACT, "messageId": incoming, "reaction": "👍"}),
        ("react", {"chatId": CONTACT, "messageId": incoming, "reaction": ""}),
        ("mark-read", {"chatId": CONTACT}),
        ("typing", {"chatId": CONTACT}),
        ("typing/stop", {"chatId": CONTACT}),
    ]:
        answer = client.post(url(connection, path), json=body)
        assert (answer.status_code, answer.json()) == (201, {"success": True}), path
    if backend.fake is not None:
        reactions = backend.fake.calls("ChattingController_setReaction")
        assert [r.body["reaction"] for r in reactions[-2:]] == ["👍", ""]
    chats = client.get(url(connection, "chats")).json()
    assert next(c for c in chats if c["id"] == CONTACT)["unreadCount"] == 0


def test_messages_page_newest_first_with_a_cursor(
    backend: Backend, client: httpx.Client
) -> None:
    connection = backend.link(client)
    chat = "14155550144@c.us"
    ids = [backend.inbound(client, connection, f"in {n}", sender=chat) for n in range(3)]
    for n in range(4):
        sent = client.post(url(connection, "send"),
                           json={"chatId": chat, "text": f"out {n}", "skipPresence": True})
        ids.append(sent.json()["id"])
    seen: list[str] = []
    before = None
    for _ in range(10):
        page = client.get(url(connection, f"chats/{chat}/messages"),
                          params={"limit": 3, **({"before": before} if before else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [m["id"] for m in body["messages"]]
        before = body["nextBefore"]
        if before is None:
            assert isinstance(body["historyStartsAt"], int)
            break
        assert body["historyStartsAt"] is None
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    everything = client.get(url(connection, f"chats/{chat}/messages")).json()
    stamps = [m["timestamp"] for m in everything["messages"]]
    assert stamps == sorted(stamps, reverse=True)
    assert_error(client.get(url(connection, f"chats/{chat}/messages"), params={"before": "x"}),
                 400, "before must be the nextBefore of a previous page")


def test_one_message_and_an_unknown_one(
    backend: Backend, client: httpx.Client, connection: dict[str, Any]
) -> None:
    incoming = backend.inbound(client, connection, "where is it?")
    found = client.get(url(connection, f"messages/{incoming}"), params={"chatId": CONTACT})
    assert found.status_code == 200
    assert found.json()["body"] == "where is it?"
    without_chat = client.get(url(connection, f"messages/{incoming}"))
    assert without_chat.json()["id"] == incoming
    assert_error(client.get(url(connection, f"messages/false_{CONTACT}_NONE"),
                            params={"chatId": CONTACT}), 404)


def test_an_own_message_is_edited(
    backend: Backend, client: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    made = client.post(f"/connections/{connection['id']}/webhooks",
                       json={"url": receiver.url, "events": ["message.edited"]})
    assert made.status_code == 201
    sent = client.post(url(connection, "send"),
                       json={"chatId": CONTACT, "text": "typo", "skipPresence": True}).json()
    edited = client.put(url(connection, f"messages/{sent['id']}"),
                        json={"chatId": CONTACT, "text": "fixed"})
    assert edited.status_code == 200, edited.text
    (event,) = events(receiver, 1)
    assert event["event"] == "message.edited"
    assert event["payload"]["editedMessageId"] == sent["id"].rsplit("_", 1)[1]
    found = client.get(url(connection, f"messages/{sent['id']}"), params={"chatId": CONTACT})
    assert found.json()["body"] == "fixed"
    assert_validation(client.put(url(connection, f"messages/{sent['id']}"),
                                 json={"chatId": CONTACT}), "text must be a non-empty string")


def test_chats_contacts_and_pictures(
    backend: Backend, client: httpx.Client, connection: dict[str, Any]
) -> None:
    backend.inbound(client, connection, "one", sender="14155550101@c.us")
    backend.inbound(client, connection, "two", sender="14155550102@c.us")
    chats = client.get(url(connection, "chats")).json()
    assert [c["id"] for c in chats][:2] == ["14155550102@c.us", "14155550101@c.us"]
    assert all(c["isGroup"] is False for c in chats)
    second = client.get(url(connection, "chats"), params={"limit": 1, "offset": 1}).json()
    assert [c["id"] for c in second] == ["14155550101@c.us"]

    contacts = client.get(url(connection, "contacts"), params={"limit": 500}).json()
    jids = {c["jid"]: c for c in contacts}
    assert {"14155550101@c.us", "14155550102@c.us"} <= set(jids)
    assert jids["14155550101@c.us"]["phoneNumber"] == "14155550101"
    assert set(jids["14155550101@c.us"]) == {"jid", "name", "phoneNumber", "isGroup"}
    assert len(client.get(url(connection, "contacts"), params={"limit": 1}).json()) == 1

    picture = client.get(url(connection, "contacts/14155550101@c.us/picture"))
    assert picture.status_code == 200
    expected = None if backend.fake is None else "https://pps.whatsapp.net/v/14155550101@c.us.jpg"
    assert picture.json() == {"profilePictureUrl": expected}


def test_an_unlinked_connection_cannot_send(
    backend: Backend, client: httpx.Client
) -> None:
    created = client.post("/connections").json()
    if backend.fake is not None:
        fake = backend.fake
        wait_until(lambda: fake.session(created["sessionName"]).status == "SCAN_QR_CODE")
    refused = client.post(f"/connections/{created['id']}/send",
                          json={"chatId": CONTACT, "text": "hi", "skipPresence": True})
    assert refused.status_code == 409, refused.text


ROUTES = [
    ("POST", "send"), ("POST", "send-image"), ("POST", "send-document"), ("POST", "send-video"),
    ("POST", "send-audio"), ("POST", "send-location"), ("POST", "send-contact"),
    ("POST", "react"), ("POST", "mark-read"), ("POST", "typing"), ("POST", "typing/stop"),
    ("GET", f"chats/{CONTACT}/messages"), ("GET", f"messages/true_{CONTACT}_AB"),
    ("GET", f"messages/true_{CONTACT}_AB/media"), ("PUT", f"messages/true_{CONTACT}_AB"),
    ("GET", "contacts"), ("GET", f"contacts/{CONTACT}/picture"), ("GET", "media/a.jpeg"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_checks_the_connection_and_its_owner(
    client: httpx.Client, stranger: httpx.Client, connection: dict[str, Any], method: str,
    path: str,
) -> None:
    body = {"chatId": CONTACT, "text": "x"}
    unknown = client.request(method, f"/connections/{UNKNOWN_ID}/{path}", json=body)
    assert_error(unknown, 404, "Connection not found")
    foreign = stranger.request(method, url(connection, path), json=body)
    assert_error(foreign, 403, "You do not own this connection")
