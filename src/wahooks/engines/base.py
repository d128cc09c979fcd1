"""The WhatsApp engine protocol that every engine (the sandbox, the WAHA adapter) implements.

An engine runs one WhatsApp session per connection and reports what happens as WAHA-shaped events
through the sink it is given; wahooks never depends on which engine produced an event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from wahooks.engines.messages import MediaContent, OutgoingMessage
from wahooks.engines.routes import InboundRoute
from wahooks.models import Connection, User
from wahooks.storage.records import ReplayKey
from wahooks.value_records import value_record


@value_record
class EngineEvent:
    event: Mapping[str, Any]
    raw: bytes | None = None
    """The engine's own bytes when it sent bytes: passed to receivers untouched."""
    replay_key: ReplayKey | None = None
    """The engine's id for the event when it may send it again (WAHA's retries): taken in the
    transaction that stores the event, and an event whose key was taken before is skipped."""


@value_record
class Ingested:
    """What the core did with events an engine emitted together."""

    accepted: int
    """Taken: they had a live connection (stored, or matched no webhook)."""
    repeated: int = 0
    """Skipped: their replay key was taken before (acknowledge them; nothing is delivered)."""


EventSink = Callable[[Sequence[EngineEvent]], Awaitable[Ingested]]
"""Takes events that happened together (stored in one transaction). Events without a live
connection are dropped and counted in neither field."""


class ConnectionDirectory(Protocol):
    """What an engine may ask of the connections above it (the connection service)."""

    async def owned(self, user: User, connection_id: str) -> Connection:
        """The user's connection; NotFound or Forbidden otherwise."""
        ...

    async def observe_engine_status(
        self, session_name: str, status: str, me: Mapping[str, Any] | None, *,
        seen_at: float | None = None,
    ) -> None:
        """A session status learnt outside an event, as it was at `seen_at` (time.monotonic())."""
        ...


class Engine(Protocol):
    name: str
    """The engine name shown on connections (WAHA's engine: NOWEB)."""

    def attach(self, sink: EventSink, connections: ConnectionDirectory) -> None:
        """Where to send events and whom to ask about connections; called once, before any
        session starts and before any inbound route is served."""
        ...

    def routes(self) -> Sequence[InboundRoute]:
        """The inbound routes this engine serves (the API serves and documents them)."""
        ...

    async def start(self) -> None:
        """Begin background work (WAHA: the reconcile loop); called once the store is open."""
        ...

    async def stop(self) -> None:
        """End background work and close connections; called before the store closes."""
        ...

    async def start_session(self, connection: Connection) -> None:
        """Create and start the session; it then waits for a QR scan."""
        ...

    async def restart_session(self, connection: Connection) -> None:
        """Full reset, logout included: the phone must scan a new QR code."""
        ...

    async def delete_session(self, connection: Connection) -> None:
        """Stop, log out and forget the session. Idempotent."""
        ...

    async def qr_png(self, connection: Connection) -> bytes | None:
        """The QR code to scan as a PNG, or None when the session is not waiting for a scan."""
        ...

    async def qr_text(self, connection: Connection) -> str | None:
        """The same QR code as the text it encodes (for terminals that draw it themselves)."""
        ...

    async def me(self, connection: Connection) -> dict[str, Any] | None:
        """The linked account (`{"id": "...@c.us", "pushName": ...}`), None when not linked."""
        ...

    async def chats(self, connection: Connection, *, limit: int, offset: int) -> list[dict[str, Any]]:
        """Recent chats, newest first."""
        ...

    # messaging (compat.md 1.3 and 1.4) ----------------------------------------------------------

    async def send(self, connection: Connection, message: OutgoingMessage) -> dict[str, Any]:
        """Send a message; the engine's own answer (WAHA's, passed through)."""
        ...

    async def mark_read(self, connection: Connection, chat_id: str) -> None:
        """Mark a chat's messages as read (WAHA sendSeen)."""
        ...

    async def set_typing(self, connection: Connection, chat_id: str, typing: bool) -> None:
        """Show or stop showing "typing..." in a chat."""
        ...

    async def react(self, connection: Connection, message_id: str, reaction: str) -> None:
        """React to a message with an emoji; "" removes the reaction."""
        ...

    async def edit_message(
        self, connection: Connection, chat_id: str, message_id: str, text: str
    ) -> dict[str, Any]:
        """Change the text of one of the account's own messages."""
        ...

    async def messages(
        self, connection: Connection, chat_id: str, *, limit: int, offset: int, until: int | None
    ) -> list[dict[str, Any]]:
        """A chat's messages newest first: those with timestamp <= `until` (seconds) when given,
        skipping `offset` of them."""
        ...

    async def message(
        self, connection: Connection, chat_id: str, message_id: str
    ) -> dict[str, Any] | None:
        """One message, None when the engine does not know it."""
        ...

    async def contacts(
        self, connection: Connection, *, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """Contacts as `{"jid", "name", "phoneNumber", "isGroup"}`."""
        ...

    async def profile_picture(self, connection: Connection, contact_id: str) -> str | None:
        """The URL of a contact's profile picture, None when hidden or absent."""
        ...

    async def media(self, connection: Connection, filename: str) -> MediaContent | None:
        """A media file the engine stored (WAHA's /api/files/{session}/{filename})."""
        ...

    async def message_media(
        self, connection: Connection, chat_id: str, message_id: str
    ) -> MediaContent | None:
        """The media of one message, None when it has none or it is no longer available."""
        ...
