"""WAHA-shaped messages for the sandbox's sends, acks, reactions and edits (NOWEB, as the fixtures).

A message sent through the API appears as `message.any` with `fromMe: true`, `source: "api"` and
ack 0 PENDING, then `message.ack` rises to SERVER, DEVICE and READ. `_data` is the Baileys
WebMessageInfo NOWEB puts there, phone JIDs as `@s.whatsapp.net`.
"""

from __future__ import annotations

import random
from typing import Any

from wahooks.engines.messages import (
    ContactMessage,
    LocationMessage,
    MediaMessage,
    OutgoingMessage,
    TextMessage,
)

PRESENCES = ("online", "offline", "typing", "recording", "paused")
ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
_MEDIA_KEYS = {
    "image": "imageMessage",
    "document": "documentMessage",
    "video": "videoMessage",
    "audio": "audioMessage",
}


def whatsapp_message_id() -> str:
    return f"3EB0{random.getrandbits(64):016X}"  # unique, not secret: no system call per message


def private_jid(chat_id: str) -> str:
    return chat_id.replace("@c.us", "@s.whatsapp.net")


def outgoing(
    message: OutgoingMessage, wa_id: str, now: int, media: dict[str, Any] | None
) -> dict[str, Any]:
    """The WAMessage of a message the account sends through the API."""
    chat = message.chat_id
    body, location, vcards = "", None, []
    if isinstance(message, TextMessage):
        body = message.text
    elif isinstance(message, MediaMessage):
        body = message.caption or ""
    elif isinstance(message, LocationMessage):
        location = {"latitude": str(message.latitude), "longitude": str(message.longitude),
                    "live": False, "name": message.title}
    else:
        vcards = [message.vcard()]
    key = {"remoteJid": private_jid(chat), "fromMe": True, "id": wa_id}
    return {
        "id": f"true_{chat}_{wa_id}",
        "timestamp": now,
        "from": chat,
        "fromMe": True,
        "source": "api",
        "body": body,
        "to": None,
        "participant": None,
        "hasMedia": media is not None,
        "media": media,
        "ack": 0,
        "ackName": "PENDING",
        "location": location,
        "vCards": vcards,
        "replyTo": {"id": message.reply_to, "participant": None, "body": None,
                    "hasMedia": False} if message.reply_to else None,
        "_data": {"key": key, "messageTimestamp": now, "message": _content(message), "status": 1},
    }


def send_answer(payload: dict[str, Any]) -> dict[str, Any]:
    """What NOWEB's send endpoints answer: Baileys' WebMessageInfo, status PENDING."""
    data = payload["_data"]
    return {
        "key": dict(data["key"]),
        "message": data["message"],
        "messageTimestamp": data["messageTimestamp"],
        "status": "PENDING",
    }


def ack(payload: dict[str, Any], level: int) -> dict[str, Any]:
    """`message.ack` for one of the account's messages (NOWEB: Baileys status = ack + 1)."""
    return {
        "id": payload["id"],
        "from": payload["from"],
        "to": None,
        "participant": None,
        "fromMe": True,
        "ack": level,
        "ackName": ACK_NAMES[level],
        "_data": {"key": dict(payload["_data"]["key"]), "update": {"status": level + 1}},
    }


def reaction(chat_id: str, message_id: str, text: str, now: int) -> dict[str, Any]:
    wa_id = whatsapp_message_id()
    return {
        "id": f"true_{chat_id}_{wa_id}",
        "timestamp": now,
        "from": chat_id,
        "fromMe": True,
        "source": "api",
        "to": None,
        "participant": None,
        "reaction": {"text": text, "messageId": message_id},
    }


def edited(original: dict[str, Any], text: str, now: int) -> dict[str, Any]:
    """`message.edited`: the edit itself as a message, naming the original's bare id."""
    chat = original["from"]
    wa_id = whatsapp_message_id()
    original_key = original["_data"]["key"]
    return {
        "id": f"true_{chat}_{wa_id}",
        "timestamp": now,
        "from": chat,
        "fromMe": True,
        "source": "api",
        "body": text,
        "to": None,
        "participant": None,
        "hasMedia": False,
        "media": None,
        "ack": 0,
        "ackName": "PENDING",
        "location": None,
        "vCards": [],
        "replyTo": None,
        "editedMessageId": original_key["id"],
        "_data": {
            "key": {"remoteJid": private_jid(chat), "fromMe": True, "id": wa_id},
            "messageTimestamp": now,
            "message": {"protocolMessage": {
                "key": dict(original_key), "type": "MESSAGE_EDIT",
                "editedMessage": {"conversation": text},
            }},
        },
    }


def _content(message: OutgoingMessage) -> dict[str, Any]:
    if isinstance(message, TextMessage):
        return {"extendedTextMessage": {"text": message.text}}
    if isinstance(message, MediaMessage):
        content: dict[str, Any] = {"mimetype": message.file.mimetype}
        if message.caption:
            content["caption"] = message.caption
        if message.file.filename:
            content["fileName"] = message.file.filename
        return {_MEDIA_KEYS[message.kind]: content}
    if isinstance(message, LocationMessage):
        return {"locationMessage": {"degreesLatitude": message.latitude,
                                    "degreesLongitude": message.longitude,
                                    "name": message.title}}
    assert isinstance(message, ContactMessage)
    return {"contactMessage": {"displayName": message.name, "vcard": message.vcard()}}


def incoming(message_id: str, wa_id: str, sender: str, body: str, now: int) -> dict[str, Any]:
    """What a contact's text message looks like to NOWEB (`message` and `message.any`)."""
    return {
        "id": message_id,
        "timestamp": now,
        "from": sender,
        "fromMe": False,
        "source": "app",
        "body": body,
        "to": None,
        "participant": None,
        "hasMedia": False,
        "media": None,
        "ack": 2,
        "ackName": "DEVICE",
        "location": None,
        "vCards": [],
        "replyTo": None,
        "_data": {
            "key": {
                "remoteJid": sender.replace("@c.us", "@s.whatsapp.net"),
                "fromMe": False,
                "id": wa_id,
            },
            "messageTimestamp": now,
            "pushName": "",
            "broadcast": False,
            "message": {
                "conversation": body,
                "messageContextInfo": {"deviceListMetadataVersion": 2},
            },
            "status": 3,
        },
    }
