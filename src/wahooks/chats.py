"""The chat an engine event belongs to: what per-chat ordering keeps in order (docs/delivery.md).

Read once per event at ingest, never per delivery. The rules follow WAHA's payloads (the fixtures in
../shared/fixtures/waha and docs/events.md):

- a message and everything about one (`message`, `message.any`, `message.ack`, `message.reaction`,
  `message.edited`, `message.waiting`): the chat is `from`, except for our own messages (`fromMe`)
  whose `to` names another chat (WEBJS puts the chat there; NOWEB puts it in `from` and leaves
  `to` empty); `message.revoked` carries the message as `after` (or `before`);
- a poll vote: the poll's chat (the poll message, by the same rule);
- `presence.update`, `chat.archive`: `payload.id`; `group.v2.*`: `payload.group.id`; the
  deprecated `group.join`: the id of the one group it lists; calls: the caller (`from`);
- anything else with a `chatId` in its payload (label events, engine events).

Not supported: the same person addressed once by phone (`@c.us`) and once by hidden id (`@lid`)
counts as two chats (WAHA does not say they are one); session and state events have no chat, and
share one key per webhook (`WITHOUT_CHAT`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The chat of events that name none: they share one line per webhook (webhooks are per connection).
WITHOUT_CHAT = ""

_SELF = ("me", "status@broadcast")


def line_key(webhook_id: str, chat_id: str | None) -> str:
    """The key of a webhook's line of deliveries for one chat (stored as `order_key`)."""
    return f"{webhook_id}:{WITHOUT_CHAT if chat_id is None else chat_id}"


def chat_of(event: Mapping[str, Any]) -> str | None:
    """The chat id an event is about, or None when it names none."""
    payload = event.get("payload")
    if isinstance(payload, list):
        return _one_group(payload)
    if not isinstance(payload, Mapping):
        return None
    event_type = event.get("event")
    if event_type == "message.revoked":
        return _message_chat(payload.get("after")) or _message_chat(payload.get("before"))
    if event_type == "poll.vote":
        return _message_chat(payload.get("poll")) or _message_chat(payload.get("vote"))
    if event_type in ("presence.update", "chat.archive"):
        return _text(payload.get("id"))
    group = payload.get("group")
    if isinstance(group, Mapping):
        return _text(group.get("id"))
    return _message_chat(payload) or _text(payload.get("chatId"))


def _message_chat(message: Any) -> str | None:
    if not isinstance(message, Mapping):
        return None
    sender, recipient = _text(message.get("from")), _text(message.get("to"))
    if message.get("fromMe") is True and recipient is not None and recipient not in _SELF:
        return recipient
    if sender is not None and sender not in _SELF:
        return sender
    return recipient if recipient not in _SELF else None


def _one_group(groups: list[Any]) -> str | None:
    if len(groups) == 1 and isinstance(groups[0], Mapping):
        return _text(groups[0].get("id"))
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
