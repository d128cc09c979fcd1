"""What the SDK puts on the wire, route by route, for the sync and the async client alike.

The messaging routes are another part of the server, still being written, so every request is
checked against a recording HTTP server: method, path, query and the exact JSON body the official
client 0.11.0 sends (send_* bodies carry every key, unused ones as null).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sdk.recorder import Recorder
from support.server import free_port
from wahooks import AsyncWAHooks, WAHooks, WAHooksError

CID = "0190a6b2-0000-7000-8000-000000000001"
CHAT = "14155550123@c.us"

# (method name, args, kwargs) -> (HTTP method, path under /api, query, JSON body)
CASES: list[tuple[str, tuple[Any, ...], dict[str, Any], str, str, dict[str, str], Any]] = [
    ("list_connections", (), {}, "GET", "/connections", {}, None),
    ("create_connection", (), {}, "POST", "/connections", {}, None),
    ("get_or_create_scannable_connection", (), {}, "POST", "/connections/get-or-create", {},
     None),
    ("get_or_create_scannable_connection", (True,), {}, "POST", "/connections/get-or-create",
     {}, {"virgin_only": True}),
    ("get_connection", (CID,), {}, "GET", f"/connections/{CID}", {}, None),
    ("delete_connection", (CID,), {}, "DELETE", f"/connections/{CID}", {}, None),
    ("restart_connection", (CID,), {}, "POST", f"/connections/{CID}/restart", {}, None),
    ("get_qr", (CID,), {}, "GET", f"/connections/{CID}/qr", {}, None),
    ("get_chats", (CID,), {}, "GET", f"/connections/{CID}/chats", {}, None),
    ("get_chats", (CID,), {"limit": 5, "offset": 10, "unread_only": True}, "GET",
     f"/connections/{CID}/chats", {"limit": "5", "offset": "10", "unread_only": "true"}, None),
    ("get_messages", (CID, CHAT), {}, "GET", f"/connections/{CID}/chats/{CHAT}/messages",
     {"limit": "50"}, None),
    ("get_messages", (CID, CHAT), {"limit": 10, "before": "cursor1"}, "GET",
     f"/connections/{CID}/chats/{CHAT}/messages", {"limit": "10", "before": "cursor1"}, None),
    ("get_message", (CID, "m1", CHAT), {}, "GET", f"/connections/{CID}/messages/m1",
     {"chatId": CHAT}, None),
    ("get_contacts", (CID,), {"limit": 3}, "GET", f"/connections/{CID}/contacts",
     {"limit": "3"}, None),
    ("edit_message", (CID, "m1", CHAT, "fixed"), {}, "PUT", f"/connections/{CID}/messages/m1",
     {}, {"chatId": CHAT, "text": "fixed"}),
    ("get_profile", (CID,), {}, "GET", f"/connections/{CID}/me", {}, None),
    ("send_message", (CID, CHAT, "hi"), {}, "POST", f"/connections/{CID}/send", {},
     {"chatId": CHAT, "text": "hi", "skipPresence": False}),
    ("send_message", (CID, CHAT, "hi"), {"skip_presence": True, "reply_to": "m0"}, "POST",
     f"/connections/{CID}/send", {},
     {"chatId": CHAT, "text": "hi", "skipPresence": True, "replyTo": "m0"}),
    ("react", (CID, CHAT, "m1", "👍"), {}, "POST", f"/connections/{CID}/react", {},
     {"chatId": CHAT, "messageId": "m1", "reaction": "👍"}),
    ("mark_read", (CID, CHAT), {}, "POST", f"/connections/{CID}/mark-read", {},
     {"chatId": CHAT}),
    ("start_typing", (CID, CHAT), {}, "POST", f"/connections/{CID}/typing", {},
     {"chatId": CHAT}),
    ("stop_typing", (CID, CHAT), {}, "POST", f"/connections/{CID}/typing/stop", {},
     {"chatId": CHAT}),
    ("send_image", (CID, CHAT), {"data": "aGk=", "mimetype": "image/png"}, "POST",
     f"/connections/{CID}/send-image", {},
     {"chatId": CHAT, "url": None, "data": "aGk=", "mimetype": "image/png", "caption": None,
      "skipPresence": False}),
    ("send_document", (CID, CHAT), {"url": "https://x.example/a.pdf", "filename": "a.pdf"},
     "POST", f"/connections/{CID}/send-document", {},
     {"chatId": CHAT, "url": "https://x.example/a.pdf", "data": None, "mimetype": None,
      "filename": "a.pdf", "caption": None, "skipPresence": False}),
    ("send_video", (CID, CHAT), {"url": "https://x.example/v.mp4", "caption": "look"}, "POST",
     f"/connections/{CID}/send-video", {},
     {"chatId": CHAT, "url": "https://x.example/v.mp4", "data": None, "mimetype": None,
      "caption": "look", "skipPresence": False}),
    ("send_audio", (CID, CHAT), {"url": "https://x.example/a.ogg", "skip_presence": True},
     "POST", f"/connections/{CID}/send-audio", {},
     {"chatId": CHAT, "url": "https://x.example/a.ogg", "data": None, "mimetype": None,
      "skipPresence": True}),
    ("send_location", (CID, CHAT, 52.52, 13.405), {}, "POST",
     f"/connections/{CID}/send-location", {},
     {"chatId": CHAT, "latitude": 52.52, "longitude": 13.405, "name": None, "address": None,
      "skipPresence": False}),
    ("send_location", (CID, CHAT, 1.5, 2.5, "Office", "Main St 1", True), {}, "POST",
     f"/connections/{CID}/send-location", {},
     {"chatId": CHAT, "latitude": 1.5, "longitude": 2.5, "name": "Office",
      "address": "Main St 1", "skipPresence": True}),
    ("send_contact", (CID, CHAT, "Jane", "+14155550100"), {}, "POST",
     f"/connections/{CID}/send-contact", {},
     {"chatId": CHAT, "contactName": "Jane", "contactPhone": "+14155550100",
      "skipPresence": False}),
    ("list_webhooks", (CID,), {}, "GET", f"/connections/{CID}/webhooks", {}, None),
    ("create_webhook", (CID, "https://x.example/hook"), {}, "POST",
     f"/connections/{CID}/webhooks", {}, {"url": "https://x.example/hook", "events": ["*"]}),
    ("create_webhook", (CID,), {"url": "https://x.example/hook", "events": ["message"]}, "POST",
     f"/connections/{CID}/webhooks", {}, {"url": "https://x.example/hook", "events": ["message"]}),
    ("create_webhook", (CID, "https://x.example/hook"), {"ordering": "chat"}, "POST",
     f"/connections/{CID}/webhooks", {},
     {"url": "https://x.example/hook", "events": ["*"], "ordering": "chat"}),
    ("update_webhook", ("w1",), {"active": False}, "PUT", "/webhooks/w1", {}, {"active": False}),
    ("update_webhook", ("w1",), {"ordering": "none"}, "PUT", "/webhooks/w1", {},
     {"ordering": "none"}),
    ("delete_webhook", ("w1",), {}, "DELETE", "/webhooks/w1", {}, None),
    ("get_webhook_logs", ("w1",), {}, "GET", "/webhooks/w1/logs", {}, None),
    ("get_webhook_logs", ("w1",), {"status": "failed", "limit": 5}, "GET", "/webhooks/w1/logs",
     {"status": "failed", "limit": "5"}, None),
    ("get_webhook_logs", ("w1",), {"event_type": "message", "since": "2026-01-01",
                                   "until": "2026-01-02", "status_class": "none"},
     "GET", "/webhooks/w1/logs",
     {"eventType": "message", "since": "2026-01-01", "until": "2026-01-02",
      "statusClass": "none"}, None),
    ("get_webhook_log", ("w1", "l1"), {}, "GET", "/webhooks/w1/logs/l1", {}, None),
    ("recover", ("w1", "2026-01-01"), {}, "POST", "/webhooks/w1/recover", {},
     {"since": "2026-01-01"}),
    ("recover", ("w1", "2026-01-01", "2026-01-02"), {}, "POST", "/webhooks/w1/recover", {},
     {"since": "2026-01-01", "until": "2026-01-02"}),
    ("test_webhook", ("w1",), {}, "POST", "/webhooks/w1/test", {}, None),
    ("get_webhook_health", ("w1",), {}, "GET", "/webhooks/w1/health", {}, None),
    ("rotate_secret", ("w1",), {}, "POST", "/webhooks/w1/rotate-secret", {}, {}),
    ("rotate_secret", ("w1",), {"overlap_seconds": 600}, "POST", "/webhooks/w1/rotate-secret",
     {}, {"overlapSeconds": 600}),
    ("list_tokens", (), {}, "GET", "/tokens", {}, None),
    ("create_token", ("ci",), {}, "POST", "/tokens", {}, {"name": "ci"}),
    ("revoke_token", ("t1",), {}, "DELETE", "/tokens/t1", {}, None),
    ("get_billing_status", (), {}, "GET", "/billing/status", {}, None),
    ("set_slots", (3,), {}, "PUT", "/billing/slots", {}, {"quantity": 3}),
]


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    with Recorder() as running:
        yield running


Call = Callable[[str, tuple[Any, ...], dict[str, Any]], Any]


@pytest.fixture(scope="module")
def call_sync(recorder: Recorder) -> Iterator[Call]:
    with WAHooks("wh_test", base_url=recorder.base_url) as client:
        yield lambda name, args, kwargs: getattr(client, name)(*args, **kwargs)


@pytest.fixture(scope="module")
def call_async(recorder: Recorder) -> Iterator[Call]:
    """One event loop and one AsyncWAHooks for the module: a new client per call costs more
    than the call."""
    with asyncio.Runner() as runner:
        client = AsyncWAHooks("wh_test", base_url=recorder.base_url)
        yield lambda name, args, kwargs: runner.run(getattr(client, name)(*args, **kwargs))
        runner.run(client.close())


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Call:
    return request.getfixturevalue(f"call_{request.param}")  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "method", "path", "query", "body"), CASES,
    ids=[f"{case[0]}-{n}" for n, case in enumerate(CASES)],
)
def test_request_on_the_wire(
    recorder: Recorder, call: Call, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
    method: str, path: str, query: dict[str, str], body: Any,
) -> None:
    answer = call(name, args, kwargs)
    sent = recorder.last()
    assert (sent.method, sent.path, sent.query) == (method, "/api" + path, query)
    assert sent.json() == body
    if body is not None:  # every key present, in the official order, unused ones null
        assert list(sent.json()) == list(body)
    assert sent.headers["authorization"] == "Bearer wh_test"
    assert sent.headers["content-type"] == "application/json"
    assert answer == {"success": True}


def test_media_url_is_built_without_a_request(recorder: Recorder) -> None:
    with WAHooks("wh_test", base_url=recorder.base_url + "/") as client:
        assert client.get_media_url(CID, "m1", CHAT) == (
            f"{recorder.base_url}/api/connections/{CID}/messages/m1/media?chatId={CHAT}"
        )
    assert AsyncWAHooks("wh_test", base_url="https://api.wahooks.com").get_media_url(
        CID, "m1", CHAT
    ).startswith("https://api.wahooks.com/api/connections/")


def test_an_empty_answer_is_none() -> None:
    with Recorder(status=200, answer=b"") as empty, WAHooks("wh_x", base_url=empty.base_url) as client:
        assert client.get_profile(CID) is None


def test_an_error_answer_raises_with_message_status_and_body() -> None:
    body = b'{"message":["url must be a URL address","events must be an array"],' \
           b'"error":"Bad Request","statusCode":400}'
    with Recorder(status=400, answer=body) as failing, \
            WAHooks("wh_x", base_url=failing.base_url) as client, pytest.raises(WAHooksError) as raised:
        client.create_webhook(CID, "nope")
    error = raised.value
    assert error.status_code == 400
    assert error.message == "url must be a URL address; events must be an array"
    assert error.body["statusCode"] == 400


def test_an_error_answer_that_is_not_json_still_raises() -> None:
    with Recorder(status=502, answer=b"<html>bad gateway</html>") as failing, \
            WAHooks("wh_x", base_url=failing.base_url) as client, pytest.raises(WAHooksError) as raised:
        client.list_connections()
    assert raised.value.status_code == 502
    assert raised.value.message == "Bad Gateway"
    assert raised.value.body == "<html>bad gateway</html>"


def test_a_server_that_is_down_raises_httpx_connect_error() -> None:
    # As the official client does: transport failures are httpx's own exceptions.
    with WAHooks("wh_x", base_url=f"http://127.0.0.1:{free_port()}") as client, \
            pytest.raises(httpx.ConnectError):
        client.list_connections()
