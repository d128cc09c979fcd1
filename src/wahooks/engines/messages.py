"""What the messaging API asks an engine to send, and what media an engine hands back.

Plain records, validated by the API before they reach an engine. Chat ids are WAHA's public form
(`<digits>@c.us`, `<id>@g.us`, `<id>@lid`, `<id>@newsletter`); message ids are WAHA's serialized
form `<fromMe>_<chatId>_<waId>[_<participant>]`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

MediaKind = Literal["image", "document", "video", "audio"]


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A file to send: fetched by the engine from `url`, or given inline as base64 `data`."""

    mimetype: str
    url: str | None = None
    data: str | None = None
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class TextMessage:
    chat_id: str
    text: str
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class MediaMessage:
    kind: MediaKind
    chat_id: str
    file: MediaFile
    caption: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class LocationMessage:
    chat_id: str
    latitude: float
    longitude: float
    title: str
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class ContactMessage:
    chat_id: str
    name: str
    phone: str
    reply_to: str | None = None

    def vcard(self) -> str:
        """The vCard the original builds: the number as WhatsApp id and as a dialable number."""
        digits = "".join(ch for ch in self.phone if ch.isdigit())
        return (
            "BEGIN:VCARD\nVERSION:3.0\n"
            f"FN:{self.name}\n"
            f"TEL;type=CELL;type=VOICE;waid={digits}:+{digits}\n"
            "END:VCARD"
        )


OutgoingMessage = TextMessage | MediaMessage | LocationMessage | ContactMessage


@dataclass(frozen=True, slots=True)
class MediaContent:
    """Bytes of a media file and their type, as the media proxy answers them."""

    body: bytes
    content_type: str


def presence_length(message: OutgoingMessage) -> int:
    """The length the typing pause is scaled by: the text for a text message, 20 otherwise (the
    original's rule)."""
    return len(message.text) if isinstance(message, TextMessage) else 20


def split_message_id(message_id: str) -> tuple[bool, str, str] | None:
    """`true_14155550123@c.us_3EB0...` -> (fromMe, chat id, WhatsApp id); None if not that form."""
    head, sep, rest = message_id.partition("_")
    if not sep or head not in ("true", "false"):
        return None
    chat, sep, tail = rest.partition("_")
    if not sep or "@" not in chat or not tail:
        return None
    return head == "true", chat, tail.split("_", 1)[0]


def public_jid(jid: str) -> str:
    """WhatsApp's user JID as WAHA shows it publicly: `...@s.whatsapp.net` -> `...@c.us`."""
    return jid.replace("@s.whatsapp.net", "@c.us")


def with_id_and_timestamp(answer: Any, chat_id: str) -> dict[str, Any]:
    """WAHA's send answer, passed through, with a normalised `id` (WAHA's serialized message id)
    and `timestamp` (Unix seconds) added: NOWEB answers a Baileys WebMessageInfo
    (`key`, `messageTimestamp`), WEBJS an object id, other engines a WAMessage."""
    out: dict[str, Any] = dict(answer) if isinstance(answer, Mapping) else {"result": answer}
    out["id"] = _message_id(out, chat_id)
    out["timestamp"] = _timestamp(out)
    return out


def _message_id(answer: Mapping[str, Any], chat_id: str) -> str | None:
    current = answer.get("id")
    if isinstance(current, str) and current:
        return current
    if isinstance(current, Mapping) and isinstance(current.get("_serialized"), str):
        return str(current["_serialized"])
    key = answer.get("key")
    if isinstance(key, Mapping) and isinstance(key.get("id"), str):
        remote = key.get("remoteJid")
        chat = public_jid(remote) if isinstance(remote, str) and remote else chat_id
        from_me = "false" if key.get("fromMe") is False else "true"
        return f"{from_me}_{chat}_{key['id']}"
    return None


def _timestamp(answer: Mapping[str, Any]) -> int:
    for name in ("timestamp", "messageTimestamp"):
        value = answer.get(name)
        if isinstance(value, Mapping):  # protobuf Long serialised as {low, high, unsigned}
            value = value.get("low")
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and value > 0:
            return int(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return int(time.time())
