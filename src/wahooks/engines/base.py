"""The WhatsApp engine protocol that every engine (the sandbox, the WAHA adapter) implements.

An engine runs one WhatsApp session per connection and reports what happens as WAHA-shaped events
through the sink it is given; wahooks never depends on which engine produced an event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wahooks.models import Connection


@dataclass(frozen=True, slots=True)
class EngineEvent:
    event: Mapping[str, Any]
    raw: bytes | None = None
    """The engine's own bytes when it sent bytes: passed to receivers untouched."""


EventSink = Callable[[Sequence[EngineEvent]], Awaitable[int]]
"""Takes events that happened together (stored in one transaction); returns how many were
accepted (the others had no live connection and were dropped)."""


class Engine(Protocol):
    name: str
    """The engine name shown on connections (WAHA's engine: NOWEB)."""

    def attach(self, sink: EventSink) -> None:
        """Where to send events; called once, before any session starts."""
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

    async def me(self, connection: Connection) -> dict[str, Any] | None:
        """The linked account (`{"id": "...@c.us", "pushName": ...}`), None when not linked."""
        ...

    async def chats(self, connection: Connection, *, limit: int, offset: int) -> list[dict[str, Any]]:
        """Recent chats, newest first."""
        ...
