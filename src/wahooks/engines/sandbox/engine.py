"""The sandbox engine: a simulated WhatsApp account per connection, the default engine.

It behaves like a WAHA NOWEB session from the outside: a new session waits for a QR scan (a real QR
PNG), a simulated scan links it, and contacts can write to it or start typing (its inbound routes,
`routes.py`, stand in for the phone and the contacts). Every event it emits
has WAHA's exact shape, so receivers built against the sandbox work unchanged on real WhatsApp.
Session state lives in the connection row; chats exist only in memory (a sandbox restart forgets
them; each remembers its newest `HISTORY_KEPT` messages), and so do sent files, within the bound
`media.py` states. Messages sent through the API
appear as WAHA shows them: `message.any` (fromMe, source api, ack PENDING), then `message.ack`
SERVER, DEVICE and READ a moment later.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import mimetypes
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import segno

from wahooks.engines.base import ConnectionDirectory, EngineEvent, EventSink
from wahooks.engines.envelope import envelope
from wahooks.engines.messages import (
    MediaContent,
    MediaMessage,
    OutgoingMessage,
    split_message_id,
)
from wahooks.engines.routes import InboundRoute
from wahooks.engines.sandbox import payloads as wa
from wahooks.engines.sandbox.media import MediaShelf
from wahooks.engines.sandbox.routes import sandbox_routes
from wahooks.errors import BadRequest, Conflict, EngineUnavailable, NotFound
from wahooks.models import Connection, ConnectionStatus
from wahooks.serialization import dumps_built
from wahooks.version import __version__

HISTORY_KEPT = 100
"""Messages a sandbox chat remembers, the newest: older ones are forgotten (as a restart forgets
them all), so a long-running sandbox fed without end (a load test) stays within bounded memory."""
ACK_DELAYS = ((1, 0.05), (2, 0.2), (3, 0.5))  # (ack level, seconds after the previous one)
EDIT_WINDOW_SECONDS = 15 * 60
_VERSION = f"wahooks-sandbox/{__version__}"


def sandbox_phone_number(connection: Connection) -> str:
    """The number a sandbox account gets when scanned: stable per connection, in the 1555 range."""
    digest = int(hashlib.sha256(connection.id.encode()).hexdigest(), 16)
    return f"1555{digest % 10_000_000:07d}"


@dataclass
class _Session:
    statuses: list[dict[str, Any]] = field(default_factory=list)
    qr_text: str = ""
    chats: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)  # oldest first


class SandboxEngine:
    name = "NOWEB"

    def __init__(self, *, public_url: str = "http://127.0.0.1:3001") -> None:
        self._sink: EventSink | None = None
        self._connections: ConnectionDirectory | None = None
        self._sessions: dict[str, _Session] = {}
        self.media_shelf = MediaShelf()
        self._public_url = public_url.rstrip("/")
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, sink: EventSink, connections: ConnectionDirectory) -> None:
        self._sink = sink
        self._connections = connections

    def routes(self) -> list[InboundRoute]:
        assert self._connections is not None, "engine not attached"
        return sandbox_routes(self, self._connections)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # the engine protocol ------------------------------------------------------------------------

    async def start_session(self, connection: Connection) -> None:
        session = self._session(connection)
        session.qr_text = f"wahooks-sandbox:{connection.session_name}:{secrets.token_hex(16)}"
        await self._status(connection, "STARTING")
        await self._status(connection, "SCAN_QR_CODE")

    async def restart_session(self, connection: Connection) -> None:
        await self._status(connection, "STOPPED")
        self._sessions.pop(connection.session_name, None)
        await self.start_session(connection)

    async def delete_session(self, connection: Connection) -> None:
        if connection.status is not ConnectionStatus.STOPPED:
            await self._status(connection, "STOPPED")
        self._sessions.pop(connection.session_name, None)

    async def qr_png(self, connection: Connection) -> bytes | None:
        text = await self.qr_text(connection)
        if text is None:
            return None
        out = io.BytesIO()
        segno.make(text, error="m").save(out, kind="png", scale=6, border=4)
        return out.getvalue()

    async def qr_text(self, connection: Connection) -> str | None:
        if connection.status is not ConnectionStatus.SCAN_QR:
            return None
        session = self._session(connection)
        if not session.qr_text:
            session.qr_text = f"wahooks-sandbox:{connection.session_name}:{secrets.token_hex(16)}"
        return session.qr_text

    async def me(self, connection: Connection) -> dict[str, Any] | None:
        if connection.status is not ConnectionStatus.WORKING or not connection.phone_number:
            return None
        return _me(connection, connection.phone_number)

    async def chats(
        self, connection: Connection, *, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        # Newest first; within one second, the chat written to last comes first.
        chats = sorted(
            reversed(self._session(connection).chats.values()),
            key=lambda chat: chat["conversationTimestamp"],
            reverse=True,
        )
        return [dict(chat) for chat in chats[offset : offset + limit]]

    # messaging ----------------------------------------------------------------------------------

    async def send(self, connection: Connection, message: OutgoingMessage) -> dict[str, Any]:
        me = self._require_working(connection)
        wa_id = wa.whatsapp_message_id()
        message_id = f"true_{message.chat_id}_{wa_id}"
        media = self._keep_media(connection, message, message_id)
        payload = wa.outgoing(message, wa_id, int(time.time()), media)
        self._remember_chat(connection, message.chat_id, payload)
        await self._emit(connection, [("message.any", payload)], me)
        self._spawn(self._acknowledge(connection, payload, me))
        return wa.send_answer(payload)

    async def mark_read(self, connection: Connection, chat_id: str) -> None:
        self._require_working(connection)
        chat = self._session(connection).chats.get(chat_id)
        if chat is not None:
            chat["unreadCount"] = 0

    async def set_typing(self, connection: Connection, chat_id: str, typing: bool) -> None:
        self._require_working(connection)

    async def react(self, connection: Connection, message_id: str, reaction: str) -> None:
        me = self._require_working(connection)
        parts = split_message_id(message_id)
        if parts is None:
            raise BadRequest(
                "messageId must be a WhatsApp message id such as true_14155550123@c.us_3EB0..."
            )
        payload = wa.reaction(parts[1], message_id, reaction, int(time.time()))
        await self._emit(connection, [("message.reaction", payload)], me)

    async def edit_message(
        self, connection: Connection, chat_id: str, message_id: str, text: str
    ) -> dict[str, Any]:
        me = self._require_working(connection)
        original = self._find(connection, chat_id, message_id)
        if original is None:
            raise NotFound("Message not found")
        if not original["fromMe"]:
            raise Conflict("Only your own messages can be edited")
        now = int(time.time())
        if now - original["timestamp"] > EDIT_WINDOW_SECONDS:
            raise Conflict("A message can be edited for 15 minutes after it was sent")
        original["body"] = text
        payload = wa.edited(original, text, now)
        await self._emit(connection, [("message.edited", payload)], me)
        return wa.send_answer(payload)

    async def messages(
        self, connection: Connection, chat_id: str, *, limit: int, offset: int, until: int | None
    ) -> list[dict[str, Any]]:
        self._require_working(connection)
        history = self._session(connection).history.get(chat_id, ())
        found = [m for m in reversed(history) if until is None or m["timestamp"] <= until]
        return [dict(m) for m in found[offset : offset + limit]]

    async def message(
        self, connection: Connection, chat_id: str, message_id: str
    ) -> dict[str, Any] | None:
        self._require_working(connection)
        found = self._find(connection, chat_id, message_id)
        return None if found is None else dict(found)

    async def contacts(
        self, connection: Connection, *, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        self._require_working(connection)
        jids = sorted(jid for jid in self._session(connection).chats if jid.endswith("@c.us"))
        return [
            {"jid": jid, "name": None, "phoneNumber": jid.split("@", 1)[0], "isGroup": False}
            for jid in jids[offset : offset + limit]
        ]

    async def profile_picture(self, connection: Connection, contact_id: str) -> str | None:
        self._require_working(connection)
        return None

    async def media(self, connection: Connection, filename: str) -> MediaContent | None:
        return self.media_shelf.get(connection.id, filename)

    async def message_media(
        self, connection: Connection, chat_id: str, message_id: str
    ) -> MediaContent | None:
        found = self._find(connection, chat_id, message_id)
        media = found.get("media") if found is not None else None
        if not isinstance(media, dict) or not isinstance(media.get("filename"), str):
            return None
        return self.media_shelf.get(connection.id, media["filename"])

    # what only the sandbox can do ---------------------------------------------------------------

    async def scan(self, connection: Connection) -> None:
        """A phone scans the QR code: the session becomes WORKING."""
        if connection.status is ConnectionStatus.WORKING:
            return
        if connection.status is not ConnectionStatus.SCAN_QR:
            raise Conflict(
                f"Connection is {connection.status.value}, not waiting for a QR scan;"
                " restart it to get a new QR code"
            )
        await self._status(
            connection, "WORKING", me=_me(connection, sandbox_phone_number(connection))
        )

    async def inbound(self, connection: Connection, sender: str, body: str) -> str:
        """A contact writes to the account: `message` then `message.any`. Returns the message id."""
        me = self._require_working(connection)
        now = int(time.time())
        wa_id = wa.whatsapp_message_id()
        message_id = f"false_{sender}_{wa_id}"
        payload = wa.incoming(message_id, wa_id, sender, body, now)
        self._remember_chat(connection, sender, payload, unread=True)
        await self._emit(connection, [("message", payload), ("message.any", payload)], me)
        return message_id

    async def presence(self, connection: Connection, sender: str, presence: str) -> None:
        me = self._require_working(connection)
        payload = {
            "id": sender,
            "presences": [{"participant": sender, "lastKnownPresence": presence, "lastSeen": None}],
        }
        await self._emit(connection, [("presence.update", payload)], me)

    # internals ----------------------------------------------------------------------------------

    def _session(self, connection: Connection) -> _Session:
        session = self._sessions.get(connection.session_name)
        if session is None:
            session = self._sessions[connection.session_name] = _Session()
        return session

    def _require_working(self, connection: Connection) -> dict[str, Any]:
        if connection.status is not ConnectionStatus.WORKING or not connection.phone_number:
            raise Conflict(
                "Connection is not connected; link it first with"
                f" POST /api/connections/{connection.id}/sandbox/scan"
            )
        return _me(connection, connection.phone_number)

    def _remember_chat(
        self, connection: Connection, chat_id: str, message: dict[str, Any], *, unread: bool = False
    ) -> None:
        session = self._session(connection)
        before = session.chats.pop(chat_id, None)
        unread_count = (before["unreadCount"] if before else 0) + 1 if unread else 0
        session.chats[chat_id] = {
            "id": chat_id,
            "name": None,
            "isGroup": chat_id.endswith("@g.us"),
            "conversationTimestamp": message["timestamp"],
            "unreadCount": unread_count,
            "lastMessage": {
                "id": message["id"],
                "body": message["body"],
                "fromMe": message["fromMe"],
                "timestamp": message["timestamp"],
            },
        }
        history = session.history.get(chat_id)
        if history is None:
            history = session.history[chat_id] = deque(maxlen=HISTORY_KEPT)
        history.append(message)

    def _find(
        self, connection: Connection, chat_id: str, message_id: str
    ) -> dict[str, Any] | None:
        history = self._session(connection).history
        chats = [chat_id] if chat_id else list(history)
        for chat in chats:
            for message in history.get(chat, ()):
                if message["id"] == message_id:
                    return message
        return None

    def _keep_media(
        self, connection: Connection, message: OutgoingMessage, message_id: str
    ) -> dict[str, Any] | None:
        """The `media` of a sent file: inline data is kept and served by the media proxy."""
        if not isinstance(message, MediaMessage):
            return None
        file = message.file
        if file.data is None:
            return {"url": file.url, "mimetype": file.mimetype, "filename": file.filename,
                    "error": None}
        extension = mimetypes.guess_extension(file.mimetype.split(";", 1)[0].strip()) or ".bin"
        filename = message_id + extension
        self.media_shelf.put(
            connection.id, filename, MediaContent(base64.b64decode(file.data), file.mimetype)
        )
        url = f"{self._public_url}/api/connections/{connection.id}/media/{filename}"
        return {"url": url, "mimetype": file.mimetype, "filename": filename, "error": None}

    async def _acknowledge(
        self, connection: Connection, payload: dict[str, Any], me: dict[str, Any]
    ) -> None:
        for level, delay in ACK_DELAYS:
            await asyncio.sleep(delay)
            payload["ack"], payload["ackName"] = level, wa.ACK_NAMES[level]
            await self._emit(connection, [("message.ack", wa.ack(payload, level))], me)

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _status(
        self, connection: Connection, status: str, *, me: dict[str, Any] | None = None
    ) -> None:
        session = self._session(connection)
        session.statuses = [*session.statuses, {"status": status, "timestamp": _ms()}][-3:]
        payload = {
            "name": connection.session_name,
            "status": status,
            "statuses": list(session.statuses),
            "data": None,
        }
        await self._emit(connection, [("session.status", payload)], me)

    async def _emit(
        self,
        connection: Connection,
        events: list[tuple[str, dict[str, Any]]],
        me: dict[str, Any] | None,
    ) -> None:
        if self._sink is None:
            raise EngineUnavailable("The sandbox engine is not attached to an event sink")
        built = [
            envelope(connection.session_name, name, payload, me=me, version=_VERSION,
                     tier="SANDBOX")
            for name, payload in events
        ]
        # The sandbox's events hold no floats and only field names as keys (sandbox/payloads.py).
        await self._sink([EngineEvent(event, dumps_built(event)) for event in built])


def _me(connection: Connection, phone: str) -> dict[str, Any]:
    """WAHA's MeInfo: the phone JID, the hidden @lid id, the device JID and the profile name."""
    lid = int(hashlib.sha256(phone.encode()).hexdigest(), 16) % 10**15
    return {
        "id": f"{phone}@c.us",
        "lid": f"{lid:015d}@lid",
        "jid": f"{phone}:23@s.whatsapp.net",
        "pushName": _push_name(connection),
    }


def _push_name(connection: Connection) -> str:
    return connection.name or "Sandbox account"


def _ms() -> int:
    return time.time_ns() // 1_000_000
