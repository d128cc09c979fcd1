"""Request bodies of the messaging API (compat.md 1.3), validated into engine records.

JSON null means absent: the official Python SDK sends every key of `send_image` and friends, the
unused ones as null. Failures answer 400 with every message at once, in the NestJS shape.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wahooks.engines.messages import (
    ContactMessage,
    LocationMessage,
    MediaFile,
    MediaKind,
    MediaMessage,
    OutgoingMessage,
    TextMessage,
)
from wahooks.schemas import present, raise_if, string_field, string_schema

MAX_TEXT = 65_536
MAX_ID = 256
DEFAULT_MIMETYPES: dict[MediaKind, str] = {
    "image": "image/jpeg",
    "document": "application/octet-stream",
    "video": "video/mp4",
    "audio": "audio/ogg; codecs=opus",
}
# What WhatsApp ids look like: contacts and hidden ids are digits; old group ids are two numbers
# joined by a dash; channels are digits too; status broadcasts have their one fixed id.
_CHAT_ID = re.compile(
    r"(?:[0-9]{5,20}@(?:c\.us|s\.whatsapp\.net|lid|newsletter)|[0-9]{5,20}(?:-[0-9]{5,20})?@g\.us"
    r"|status@broadcast)"
)
# ASCII digits only, matched whole (fullmatch): `\d` takes any script's digits and `$` a newline.
_PHONE = re.compile(r"\+?[0-9 ()-]{5,32}")
_DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+(?:;[^,;]*)*?)?;base64,", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Send:
    message: OutgoingMessage
    skip_presence: bool


def chat_id_field(body: Mapping[str, Any], errors: list[str], *, required: bool = True) -> str:
    """A chat id as WAHA wants it: a bare phone number gets `@c.us`, `@s.whatsapp.net` becomes
    `@c.us`."""
    value = string_field(body, "chatId", errors, required=required, max_length=MAX_ID)
    if value is None:
        return ""
    value = value.strip()
    if "@" not in value:
        if not _PHONE.fullmatch(value):
            errors.append("chatId must be a WhatsApp chat id such as 14155550123@c.us")
            return ""
        return "".join(ch for ch in value if ch.isdigit()) + "@c.us"
    if not _CHAT_ID.fullmatch(value):
        errors.append(
            "chatId must be a WhatsApp chat id: <digits>@c.us for a contact, <id>@g.us for a"
            " group, <id>@lid, <id>@newsletter or status@broadcast"
        )
        return ""
    return value.replace("@s.whatsapp.net", "@c.us")


def text_send(body: Mapping[str, Any]) -> Send:
    errors: list[str] = []
    chat_id = chat_id_field(body, errors)
    text = present(body, "text")
    if not isinstance(text, str) or not text:
        errors.append("text must be a non-empty string")
    elif len(text) > MAX_TEXT:
        errors.append(f"text must be shorter than or equal to {MAX_TEXT} characters")
    reply_to = string_field(body, "replyTo", errors, required=False, max_length=MAX_ID)
    skip = _skip_presence(body, errors)
    raise_if(errors)
    assert isinstance(text, str)
    return Send(TextMessage(chat_id, text, reply_to or None), skip)


def media_send(body: Mapping[str, Any], kind: MediaKind) -> Send:
    errors: list[str] = []
    chat_id = chat_id_field(body, errors)
    url = string_field(body, "url", errors, required=False, max_length=4096)
    data = present(body, "data")
    if data is not None and not isinstance(data, str):
        errors.append("data must be a base64 string")
        data = None
    mimetype = string_field(body, "mimetype", errors, required=False, max_length=255)
    filename = string_field(body, "filename", errors, required=False, max_length=255)
    caption = string_field(body, "caption", errors, required=False, max_length=MAX_TEXT)
    reply_to = string_field(body, "replyTo", errors, required=False, max_length=MAX_ID)
    skip = _skip_presence(body, errors)
    if url is not None and data is not None:
        errors.append("give either url or data, not both")
    elif url is None and data is None:
        errors.append("url or data must be given")
    if url is not None and not url.lower().startswith(("http://", "https://")):
        errors.append("url must be an http or https URL")
    if data is not None:
        data, mimetype = _base64(data, mimetype, errors)
    raise_if(errors)
    mimetype = mimetype or _guess(url or filename) or DEFAULT_MIMETYPES[kind]
    file = MediaFile(mimetype, url=url, data=data, filename=filename or None)
    if kind == "audio":
        caption = None  # a voice note has no caption
    return Send(MediaMessage(kind, chat_id, file, caption or None, reply_to or None), skip)


def location_send(body: Mapping[str, Any]) -> Send:
    errors: list[str] = []
    chat_id = chat_id_field(body, errors)
    latitude = _number(body, "latitude", -90, 90, errors)
    longitude = _number(body, "longitude", -180, 180, errors)
    name = string_field(body, "name", errors, required=False, max_length=1024)
    address = string_field(body, "address", errors, required=False, max_length=1024)
    reply_to = string_field(body, "replyTo", errors, required=False, max_length=MAX_ID)
    skip = _skip_presence(body, errors)
    raise_if(errors)
    assert latitude is not None and longitude is not None
    title = name or address or ""
    return Send(LocationMessage(chat_id, latitude, longitude, title, reply_to or None), skip)


def contact_send(body: Mapping[str, Any]) -> Send:
    errors: list[str] = []
    chat_id = chat_id_field(body, errors)
    name = string_field(body, "contactName", errors, required=True, max_length=256)
    phone = string_field(body, "contactPhone", errors, required=True, max_length=64)
    if phone is not None and not _PHONE.fullmatch(phone):
        errors.append("contactPhone must be a phone number such as +14155550123")
    reply_to = string_field(body, "replyTo", errors, required=False, max_length=MAX_ID)
    skip = _skip_presence(body, errors)
    raise_if(errors)
    assert name is not None and phone is not None
    return Send(ContactMessage(chat_id, name, phone, reply_to or None), skip)


def reaction_body(body: Mapping[str, Any]) -> tuple[str, str]:
    """(messageId, reaction); an empty reaction removes one."""
    errors: list[str] = []
    message_id = string_field(body, "messageId", errors, required=True, max_length=MAX_ID)
    reaction = present(body, "reaction")
    if not isinstance(reaction, str):
        errors.append("reaction must be a string (an emoji, or empty to remove the reaction)")
    elif len(reaction) > 32:
        errors.append("reaction must be shorter than or equal to 32 characters")
    chat_id_field(body, errors, required=False)
    raise_if(errors)
    assert message_id is not None and isinstance(reaction, str)
    return message_id, reaction


def edit_body(body: Mapping[str, Any]) -> tuple[str, str]:
    """(chatId or "" when not given, text)."""
    errors: list[str] = []
    chat_id = chat_id_field(body, errors, required=False)
    text = present(body, "text")
    if not isinstance(text, str) or not text:
        errors.append("text must be a non-empty string")
    elif len(text) > MAX_TEXT:
        errors.append(f"text must be shorter than or equal to {MAX_TEXT} characters")
    raise_if(errors)
    assert isinstance(text, str)
    return chat_id, text


def chat_only(body: Mapping[str, Any]) -> str:
    errors: list[str] = []
    chat_id = chat_id_field(body, errors)
    raise_if(errors)
    return chat_id


def _skip_presence(body: Mapping[str, Any], errors: list[str]) -> bool:
    value = present(body, "skipPresence")
    if value is None:
        return False
    if not isinstance(value, bool):
        errors.append("skipPresence must be a boolean value")
        return False
    return value


def _number(
    body: Mapping[str, Any], key: str, low: float, high: float, errors: list[str]
) -> float | None:
    value = present(body, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(f"{key} must be a number")
        return None
    if not low <= value <= high:
        errors.append(f"{key} must be between {low:g} and {high:g}")
        return None
    return float(value)


def _base64(data: str, mimetype: str | None, errors: list[str]) -> tuple[str, str | None]:
    """The bare base64 of `data` (a data: URI's prefix removed, its type kept when none given)."""
    uri = _DATA_URI.match(data)
    if uri is not None:
        mimetype = mimetype or (uri.group(1) or None)
        data = data[uri.end():]
    try:
        if not base64.b64decode(data, validate=True):
            raise ValueError("empty")
    except (binascii.Error, ValueError):
        errors.append("data must be base64-encoded file content")
    return data, mimetype


def _guess(name: str | None) -> str | None:
    if not name:
        return None
    guessed, _ = mimetypes.guess_type(name.split("?", 1)[0])
    return guessed


# The bodies' schemas, for the OpenAPI document: what the functions above accept. -------------

# The ids _CHAT_ID and _PHONE accept, ASCII digits only (the schema's reader may not be Python).
_CHAT_ID_PATTERN = (
    r"^(?:[0-9]{5,20}@(?:c\.us|s\.whatsapp\.net|lid|newsletter)|[0-9]{5,20}(?:-[0-9]{5,20})?@g\.us"
    r"|status@broadcast|\+?[0-9\s()-]{5,32})$"
)
_CHAT_ID_SCHEMA = {
    "type": "string", "maxLength": MAX_ID, "pattern": _CHAT_ID_PATTERN,
    "example": "14155550123@c.us",
    "description": "A chat id (<digits>@c.us, <id>@g.us, <id>@lid, <id>@newsletter,"
                   " status@broadcast) or a bare phone number",
}
_OPTIONAL_ID = string_schema(required=False, max_length=MAX_ID)
_SKIP_PRESENCE = {"type": ["boolean", "null"],
                  "description": "true: send at once, without 'typing...' first"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}


def _optional(max_length: int) -> dict[str, Any]:
    return string_schema(required=False, max_length=max_length)


def _object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


TEXT_SCHEMA = _object(["chatId", "text"], {
    "chatId": _CHAT_ID_SCHEMA, "text": _TEXT, "replyTo": _OPTIONAL_ID,
    "skipPresence": _SKIP_PRESENCE,
})
MEDIA_SCHEMA = {
    **_object(["chatId"], {
        "chatId": _CHAT_ID_SCHEMA,
        "url": {**_optional(4096), "description": "An http or https URL of the file"},
        "data": {"type": ["string", "null"], "contentEncoding": "base64",
                 "description": "The file's content in base64, or a data: URI"},
        "mimetype": _optional(255), "filename": _optional(255),
        "caption": {**_optional(MAX_TEXT), "description": "Ignored for audio"},
        "replyTo": _OPTIONAL_ID, "skipPresence": _SKIP_PRESENCE,
    }),
    "description": "Exactly one of url and data",
}
LOCATION_SCHEMA = _object(["chatId", "latitude", "longitude"], {
    "chatId": _CHAT_ID_SCHEMA,
    "latitude": {"type": "number", "minimum": -90, "maximum": 90},
    "longitude": {"type": "number", "minimum": -180, "maximum": 180},
    "name": _optional(1024), "address": _optional(1024),
    "replyTo": _OPTIONAL_ID, "skipPresence": _SKIP_PRESENCE,
})
CONTACT_SCHEMA = _object(["chatId", "contactName", "contactPhone"], {
    "chatId": _CHAT_ID_SCHEMA,
    "contactName": string_schema(required=True, max_length=256),
    "contactPhone": {**string_schema(required=True, max_length=64),
                     "pattern": r"^\+?[0-9\s()-]{5,32}$", "example": "+14155550123"},
    "replyTo": _OPTIONAL_ID, "skipPresence": _SKIP_PRESENCE,
})
REACTION_SCHEMA = _object(["messageId", "reaction"], {
    "messageId": string_schema(required=True, max_length=MAX_ID),
    "reaction": {"type": "string", "maxLength": 32,
                 "description": "An emoji; empty removes the reaction"},
    "chatId": {**_CHAT_ID_SCHEMA, "type": ["string", "null"]},
})
EDIT_SCHEMA = _object(["text"], {
    "chatId": {**_CHAT_ID_SCHEMA, "type": ["string", "null"]}, "text": _TEXT,
})
CHAT_SCHEMA = _object(["chatId"], {"chatId": _CHAT_ID_SCHEMA})
