"""The sandbox engine: a simulated WhatsApp account per connection, the default engine.

It behaves like a WAHA NOWEB session from the outside: a new session waits for a QR scan (a real QR
PNG), a simulated scan links it, and contacts can write to it or start typing. Every event it emits
has WAHA's exact shape, so receivers built against the sandbox work unchanged on real WhatsApp.
Session state lives in the connection row; chats exist only in memory (a sandbox restart forgets
them).
"""

from __future__ import annotations

import hashlib
import io
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import segno

from wahooks import __version__
from wahooks.engines.base import EngineEvent, EventSink
from wahooks.engines.envelope import envelope
from wahooks.errors import Conflict, EngineUnavailable
from wahooks.models import Connection, ConnectionStatus

PRESENCES = ("online", "offline", "typing", "recording", "paused")
_VERSION = f"wahooks-sandbox/{__version__}"


def sandbox_phone_number(connection: Connection) -> str:
    """The number a sandbox account gets when scanned: stable per connection, in the 1555 range."""
    digest = int(hashlib.sha256(connection.id.encode()).hexdigest(), 16)
    return f"1555{digest % 10_000_000:07d}"


def whatsapp_message_id() -> str:
    return "3EB0" + secrets.token_hex(8).upper()


@dataclass
class _Session:
    statuses: list[dict[str, Any]] = field(default_factory=list)
    qr_text: str = ""
    chats: dict[str, dict[str, Any]] = field(default_factory=dict)


class SandboxEngine:
    name = "NOWEB"

    def __init__(self) -> None:
        self._sink: EventSink | None = None
        self._sessions: dict[str, _Session] = {}

    def attach(self, sink: EventSink) -> None:
        self._sink = sink

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
        if connection.status is not ConnectionStatus.SCAN_QR:
            return None
        session = self._session(connection)
        if not session.qr_text:
            session.qr_text = f"wahooks-sandbox:{connection.session_name}:{secrets.token_hex(16)}"
        out = io.BytesIO()
        segno.make(session.qr_text, error="m").save(out, kind="png", scale=6, border=4)
        return out.getvalue()

    async def me(self, connection: Connection) -> dict[str, Any] | None:
        if connection.status is not ConnectionStatus.WORKING or not connection.phone_number:
            return None
        return _me(connection, connection.phone_number)

    async def chats(
        self, connection: Connection, *, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        chats = sorted(
            self._session(connection).chats.values(),
            key=lambda chat: chat["conversationTimestamp"],
            reverse=True,
        )
        return chats[offset : offset + limit]

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
        wa_id = whatsapp_message_id()
        message_id = f"false_{sender}_{wa_id}"
        payload = {
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
        self._remember_chat(connection, sender, payload)
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

    def _remember_chat(self, connection: Connection, chat_id: str, message: dict[str, Any]) -> None:
        self._session(connection).chats[chat_id] = {
            "id": chat_id,
            "name": None,
            "conversationTimestamp": message["timestamp"],
            "unreadCount": 1,
            "lastMessage": {
                "id": message["id"],
                "body": message["body"],
                "fromMe": message["fromMe"],
                "timestamp": message["timestamp"],
            },
        }

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
        await self._sink([
            EngineEvent(envelope(connection.session_name, name, payload, me=me, version=_VERSION,
                                 tier="SANDBOX"))
            for name, payload in events
        ])


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
