"""The validator the fake WAHA uses, and what wahooks sends WAHA, checked against WAHA's OpenAPI
document: the fixtures are valid events, and every request body the adapter builds is a valid
request (with no undeclared keys)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from waha.fake import FIXTURES
from waha.spec import SpecViolation, WahaSpec
from wahooks.engines.messages import (
    ContactMessage,
    LocationMessage,
    MediaFile,
    MediaMessage,
    OutgoingMessage,
    TextMessage,
)
from wahooks.engines.waha import WEBHOOK_RETRIES, signature_matches
from wahooks.engines.waha.payloads import send_request

SESSION = "u_a80ffc98e1d2_s_3f9c2b7a1d4e"
FIXTURE_FILES = sorted(path.name for path in FIXTURES.glob("*.json"))


def _request(spec: WahaSpec, method: str, path: str, body: Any = None,
             query: dict[str, list[str]] | None = None) -> str:
    raw = b"" if body is None else json.dumps(body).encode()
    return spec.check_request(method, path, query or {}, raw, "application/json").operation.operation_id


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_every_fixture_is_a_valid_waha_event(waha_spec: WahaSpec, name: str) -> None:
    event = json.loads((FIXTURES / name).read_text("utf-8"))
    assert waha_spec.event_errors(event) == []


def test_an_event_missing_a_required_field_is_caught(waha_spec: WahaSpec) -> None:
    event = json.loads((FIXTURES / "message.json").read_text("utf-8"))
    del event["payload"]["ack"]
    assert waha_spec.event_errors(event) == ["payload: 'ack' is a required property"]
    event = json.loads((FIXTURES / "message.json").read_text("utf-8"))
    event["payload"]["fromMe"] = "no"
    assert waha_spec.event_errors(event) == [
        "payload/fromMe: 'no' is not of type 'boolean', 'null'"
    ]


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "problem"),
    [
        ("GET", "/api/nothing", {}, None, "no such path"),
        ("PATCH", f"/api/sessions/{SESSION}", {}, None, "method not allowed"),
        ("GET", f"/api/{SESSION}/auth/qr", {}, None, "required query parameter 'format'"),
        ("GET", f"/api/{SESSION}/auth/qr", {"format": ["png"]}, None, "is not one of"),
        ("GET", "/api/sessions", {"all": ["yes"]}, None, "is not a boolean"),
        ("GET", "/api/sessions", {"everything": ["true"]}, None, "is not declared"),
        ("POST", "/api/sendText", {}, {"session": SESSION, "chatId": "1@c.us", "text": "x",
                                       "replyTo": "m"}, "'replyTo' was unexpected"),
        ("POST", "/api/sendText", {}, {"session": SESSION, "text": "x"}, "'chatId' is a required"),
        ("POST", "/api/sendText", {}, None, "the request body is required"),
        ("POST", f"/api/sessions/{SESSION}/start", {}, {"x": 1}, "takes no request body"),
        ("POST", "/api/sessions", {}, {"name": SESSION, "config": {"noweb": {"store": {
            "enabled": True}}}}, "'fullSync' is a required property"),
    ],
)
def test_the_strict_reading_refuses_what_waha_does_not_document(
    waha_spec: WahaSpec, method: str, path: str, query: dict[str, list[str]], body: Any,
    problem: str,
) -> None:
    with pytest.raises(SpecViolation, match=problem):
        _request(waha_spec, method, path, body, query)


def test_the_session_wahooks_creates_is_a_valid_request(waha_spec: WahaSpec) -> None:
    body = {"name": SESSION, "start": False, "config": {
        "noweb": {"markOnline": True, "store": {"enabled": True, "fullSync": True}},
        "webhooks": [{"url": "http://wahooks:3001/api/events/waha", "events": ["*"],
                      "hmac": {"key": "k" * 64}, "retries": dict(WEBHOOK_RETRIES)}],
    }}
    assert _request(waha_spec, "POST", "/api/sessions", body) == "SessionsController_create"


MESSAGES: list[tuple[OutgoingMessage, str]] = [
    (TextMessage("14155550123@c.us", "hi", reply_to="false_14155550123@c.us_AB"),
     "ChattingController_sendText"),
    (MediaMessage("image", "1@c.us", MediaFile("image/png", url="https://x/a.png"), "cap"),
     "ChattingController_sendImage"),
    (MediaMessage("image", "1@c.us", MediaFile("image/png", data="AAAA", filename="a.png")),
     "ChattingController_sendImage"),
    (MediaMessage("document", "1@c.us", MediaFile("application/pdf", url="https://x/a.pdf",
                                                   filename="a.pdf"), "the doc"),
     "ChattingController_sendFile"),
    (MediaMessage("video", "1@c.us", MediaFile("video/mp4", url="https://x/v.mp4"), "watch"),
     "ChattingController_sendVideo"),
    (MediaMessage("video", "1@c.us", MediaFile("video/quicktime", data="AAAA")),
     "ChattingController_sendVideo"),
    (MediaMessage("audio", "1@c.us", MediaFile("audio/mpeg", url="https://x/a.mp3",
                                                filename="a.mp3")),
     "ChattingController_sendVoice"),
    (MediaMessage("audio", "1@c.us", MediaFile("audio/ogg; codecs=opus", data="AAAA",
                                                filename="v.ogg")),
     "ChattingController_sendVoice"),
    (MediaMessage("audio", "1@c.us", MediaFile("audio/mpeg", data="AAAA")),
     "ChattingController_sendVoice"),
    (LocationMessage("1@c.us", 38.89, -77.09, "Our office"), "ChattingController_sendLocation"),
    (LocationMessage("1@c.us", 1.5, 2.5, ""), "ChattingController_sendLocation"),
    (ContactMessage("1@c.us", "Jane Doe", "+1 415 555 0123"),
     "ChattingController_sendContactVcard"),
]


@pytest.mark.parametrize(("message", "operation"), MESSAGES)
def test_every_send_body_is_a_valid_waha_request(
    waha_spec: WahaSpec, message: OutgoingMessage, operation: str
) -> None:
    path, body = send_request(SESSION, message)
    assert _request(waha_spec, "POST", path, body) == operation


def test_the_contact_vcard_carries_the_whatsapp_id() -> None:
    vcard = ContactMessage("1@c.us", "Jane Doe", "+1 (415) 555-0123").vcard()
    assert vcard == ("BEGIN:VCARD\nVERSION:3.0\nFN:Jane Doe\n"
                     "TEL;type=CELL;type=VOICE;waid=14155550123:+14155550123\nEND:VCARD")


def test_the_hmac_of_the_shared_vectors(shared_dir: Path) -> None:
    vector = json.loads(
        (shared_dir / "fixtures/wahooks/incoming-waha-hmac.example.json").read_text("utf-8")
    )
    body = vector["body"].encode()
    assert signature_matches(body, vector["hmacKey"], vector["headers"]["X-Webhook-Hmac"])
    assert not signature_matches(body + b" ", vector["hmacKey"], vector["headers"]["X-Webhook-Hmac"])
    assert not signature_matches(body, "another-key", vector["headers"]["X-Webhook-Hmac"])
    docs = vector["docs_vector"]
    assert signature_matches(docs["body"].encode(), docs["key"], docs["hmac"])
    assert signature_matches(docs["body"].encode(), docs["key"], docs["hmac"].upper())
    assert not signature_matches(docs["body"].encode(), docs["key"], "é" + docs["hmac"][1:])
