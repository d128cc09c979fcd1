"""The chat an event belongs to (per-chat ordering's key), over every WAHA fixture and every
payload the sandbox engine makes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wahooks.chats import chat_of, line_key
from wahooks.engines.messages import TextMessage
from wahooks.engines.sandbox import payloads

CONTACT = "14155550123@c.us"
GROUP = "120363025246125486@g.us"

# Every fixture in ../shared/fixtures/waha, with the chat its event is about (None: no chat).
FIXTURES = {
    "call.accepted.json": CONTACT,
    "call.received.json": CONTACT,
    "call.rejected.json": CONTACT,
    "chat.archive.json": CONTACT,
    "group.join.json": GROUP,
    "group.v2.join.json": GROUP,
    "group.v2.leave.json": GROUP,
    "group.v2.participants.json": GROUP,
    "group.v2.participants.promote.json": GROUP,
    "group.v2.update.json": GROUP,
    "message.ack.group.json": GROUP,
    "message.ack.json": CONTACT,
    "message.ack.read.json": CONTACT,
    "message.any.json": CONTACT,  # our own message (fromMe, NOWEB: the chat is `from`)
    "message.edited.json": CONTACT,
    "message.group.json": GROUP,  # a group message: the group, not the participant
    "message.image.json": CONTACT,
    "message.json": CONTACT,
    "message.lid-reply.json": "38203818037365@lid",
    "message.reaction.json": CONTACT,
    "message.reaction.removed.json": CONTACT,
    "message.revoked.json": CONTACT,
    "poll.vote.json": CONTACT,
    "presence.update.group.json": GROUP,
    "presence.update.json": CONTACT,
    "session.status.failed.json": None,
    "session.status.json": None,
    "session.status.scan_qr_code.json": None,
    "session.status.starting.json": None,
    "session.status.stopped.json": None,
    "state.change.json": None,
}


def _event(path: Path) -> dict[str, Any]:
    loaded = json.loads(path.read_text("utf-8"))
    return loaded.get("body", loaded) if isinstance(loaded, dict) else loaded


def test_every_fixture_has_an_expected_chat(shared_dir: Path) -> None:
    names = {path.name for path in (shared_dir / "fixtures/waha").glob("*.json")}
    assert names == set(FIXTURES)


@pytest.mark.parametrize(("name", "chat"), sorted(FIXTURES.items()))
def test_the_chat_of_each_waha_event(shared_dir: Path, name: str, chat: str | None) -> None:
    assert chat_of(_event(shared_dir / "fixtures/waha" / name)) == chat


def test_our_own_message_names_its_chat_in_to_when_the_engine_puts_it_there() -> None:
    # WEBJS: `from` is the account itself, `to` the chat.
    event = {"event": "message.any", "payload": {
        "from": "14155550199@c.us", "to": CONTACT, "fromMe": True, "body": "hi"}}
    assert chat_of(event) == CONTACT
    assert chat_of({"event": "message", "payload": {"from": "me", "to": None}}) is None


@pytest.mark.parametrize("payload", [None, [], [{"id": 1}], "text", {"from": ""}, {"chatId": 3}])
def test_events_without_a_chat(payload: Any) -> None:
    assert chat_of({"event": "message", "payload": payload}) is None


def test_an_engine_event_with_a_chat_id() -> None:
    assert chat_of({"event": "label.chat.added", "payload": {"chatId": CONTACT}}) == CONTACT


def test_the_sandbox_engines_payloads() -> None:
    sent = payloads.outgoing(TextMessage(CONTACT, "hello"), "3EB0AA", 1, None)
    made = {
        "message": payloads.incoming("false_x", "3EB0BB", CONTACT, "hi", 1),
        "message.any": sent,
        "message.ack": payloads.ack(sent, 2),
        "message.reaction": payloads.reaction(CONTACT, sent["id"], "👍", 1),
        "message.edited": payloads.edited(sent, "hello!", 1),
    }
    for event_type, payload in made.items():
        assert chat_of({"event": event_type, "payload": payload}) == CONTACT, event_type


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["from", "to", "fromMe", "id", "chatId", "group", "after", "poll", "x"]),
        inner, max_size=4,
    ),
    max_leaves=12,
)


@given(event_type=st.sampled_from(["message", "poll.vote", "message.revoked", "group.v2.join",
                                   "presence.update", "call.received"]), payload=_JSON)
def test_any_payload_gives_a_chat_id_or_none(event_type: str, payload: Any) -> None:
    chat = chat_of({"event": event_type, "payload": payload})
    assert chat is None or (isinstance(chat, str) and chat)


def test_a_line_is_one_webhooks_chat() -> None:
    assert line_key("w1", CONTACT) == f"w1:{CONTACT}"
    assert line_key("w1", None) == "w1:"  # events without a chat share one line per webhook
    assert line_key("w1", CONTACT) != line_key("w2", CONTACT)
