"""WAHA request bodies for what wahooks sends, and WAHA's chats and contacts as the API shows them.

The bodies follow WAHA's OpenAPI schemas exactly (tests/waha validates each one against them):
`reply_to` not `replyTo`, `title` required on a location, `convert` required on voice and video,
a file name required on a video.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wahooks.engines.messages import (
    LocationMessage,
    MediaFile,
    MediaMessage,
    OutgoingMessage,
    TextMessage,
    public_jid,
)

VOICE_MIMETYPE = "audio/ogg; codecs=opus"
_SEND_PATHS = {
    "image": "/api/sendImage",
    "document": "/api/sendFile",
    "video": "/api/sendVideo",
    "audio": "/api/sendVoice",
}


def send_request(session: str, message: OutgoingMessage) -> tuple[str, dict[str, Any]]:
    """The WAHA endpoint and body that send `message` from `session`."""
    body: dict[str, Any] = {"session": session, "chatId": message.chat_id}
    if isinstance(message, TextMessage):
        body["text"] = message.text
        path = "/api/sendText"
    elif isinstance(message, MediaMessage):
        path = _SEND_PATHS[message.kind]
        body.update(_media_body(message))
    elif isinstance(message, LocationMessage):
        body.update(latitude=message.latitude, longitude=message.longitude, title=message.title)
        path = "/api/sendLocation"
    else:
        body["contacts"] = [{"vcard": message.vcard()}]
        path = "/api/sendContactVcard"
    if message.reply_to:
        body["reply_to"] = message.reply_to
    return path, body


def _media_body(message: MediaMessage) -> dict[str, Any]:
    file = message.file
    body: dict[str, Any] = {}
    if message.kind == "audio":
        # A voice note must be opus in ogg; anything else WAHA converts with ffmpeg. Inline data
        # needs a file name, a URL takes none.
        body["file"] = _file(file, with_name=False)
        if file.data is not None:
            body["file"]["filename"] = file.filename or "voice-message"
        body["convert"] = file.mimetype.replace(" ", "") != VOICE_MIMETYPE.replace(" ", "")
        return body
    if message.kind == "video":
        body["file"] = {**_file(file, with_name=False), "filename": file.filename or "video.mp4"}
        body["convert"] = file.mimetype != "video/mp4"
    else:
        body["file"] = _file(file, with_name=file.filename is not None)
    if message.caption:
        body["caption"] = message.caption
    return body


def _file(file: MediaFile, *, with_name: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"mimetype": file.mimetype}
    if with_name:
        out["filename"] = file.filename
    if file.url is not None:
        out["url"] = file.url
    else:
        out["data"] = file.data
    return out


def contact_json(contact: Mapping[str, Any]) -> dict[str, Any]:
    """A WAHA contact as the SDK's `get_contacts` documents it."""
    jid = str(contact.get("id") or "")
    name = None
    for key in ("name", "pushname", "pushName", "notify", "verifiedName", "shortName"):
        value = contact.get(key)
        if isinstance(value, str) and value:
            name = value
            break
    user, _, server = jid.partition("@")
    phone = user if server in ("c.us", "s.whatsapp.net") and user.isdigit() else None
    return {"jid": public_jid(jid), "name": name, "phoneNumber": phone,
            "isGroup": server == "g.us"}


def chat_json(chat: Mapping[str, Any]) -> dict[str, Any]:
    """A chat with what the SDK's `get_chats` reads: `isGroup` and `unreadCount` added."""
    out = dict(chat)
    chat_id = str(out.get("id") or "")
    out.setdefault("isGroup", chat_id.endswith("@g.us"))
    if "unreadCount" not in out:
        raw = out.get("_chat")
        unread = raw.get("unreadCount") if isinstance(raw, Mapping) else None
        out["unreadCount"] = unread if isinstance(unread, int) else 0
    return out
