"""What the messaging API asks an engine to send, and what media an engine hands back.

Plain records, validated by the API before they reach an engine. Chat ids are WAHA's public form
(`<digits>@c.us`, `<id>@g.us`, `<id>@lid`, `<id>@newsletter`); message ids are WAHA's serialized
form `<fromMe>_<chatId>_<waId>[_<participant>]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
