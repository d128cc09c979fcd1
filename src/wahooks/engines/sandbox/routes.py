"""Drive the sandbox engine: scan a QR code, receive a message, see a contact type.

The sandbox engine serves these routes (they answer 201 on success); with another engine their
paths answer 404 "The sandbox routes exist only when the sandbox engine runs".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from wahooks.engines.base import ConnectionDirectory
from wahooks.engines.routes import InboundRequest, InboundRoute
from wahooks.engines.sandbox.payloads import PRESENCES
from wahooks.errors import NotFound
from wahooks.models import Connection
from wahooks.schemas import connection_json, raise_if, string_field

SCAN_PATH = "/api/connections/{connection_id}/sandbox/scan"
INBOUND_PATH = "/api/connections/{connection_id}/sandbox/inbound"
PRESENCE_PATH = "/api/connections/{connection_id}/sandbox/presence"
ABSENT = "The sandbox routes exist only when the sandbox engine runs"
TAG = "sandbox"
WRONG_STATE = (409,)
"""A connection not in the state the step needs (deleted, not linked yet) answers 409."""

# Matched whole (fullmatch: `$` would let a trailing newline through) on ASCII digits only (`\d`
# takes any Unicode digit, such as Arabic-Indic ones, which no WhatsApp id has).
_CONTACT = re.compile(r"[0-9]{5,20}@(c\.us|s\.whatsapp\.net|lid)")
MAX_BODY_CHARS = 65_536
_CONTACT_SCHEMA = {"type": "string", "maxLength": 64, "example": "14155550123@c.us",
                   "pattern": r"^[0-9]{5,20}@(c\.us|s\.whatsapp\.net|lid)$",
                   "description": "The contact: a WhatsApp id such as 14155550123@c.us"}
INBOUND_SCHEMA = {
    "type": "object",
    "required": ["from", "body"],
    "properties": {"from": _CONTACT_SCHEMA,
                   "body": {"type": "string", "maxLength": MAX_BODY_CHARS}},
}
PRESENCE_SCHEMA = {
    "type": "object",
    "required": ["from", "presence"],
    "properties": {"from": _CONTACT_SCHEMA,
                   "presence": {"type": "string", "enum": list(PRESENCES)}},
}


class SimulatedPhone(Protocol):
    """What the routes drive: the sandbox engine's own operations."""

    async def scan(self, connection: Connection) -> None: ...
    async def inbound(self, connection: Connection, sender: str, body: str) -> str: ...
    async def presence(self, connection: Connection, sender: str, presence: str) -> None: ...


def sandbox_routes(phone: SimulatedPhone, connections: ConnectionDirectory) -> list[InboundRoute]:
    handlers = _Handlers(phone, connections)
    return [
        InboundRoute(SCAN_PATH, "Sandbox: a phone scans the QR code; the connection becomes "
                     "connected", handlers.scan, TAG, error_statuses=WRONG_STATE),
        InboundRoute(INBOUND_PATH, "Sandbox: a contact writes to the account (message, "
                     "message.any)", handlers.inbound, TAG, request_schema=INBOUND_SCHEMA,
                     error_statuses=WRONG_STATE),
        InboundRoute(PRESENCE_PATH, "Sandbox: a contact's presence changes (presence.update)",
                     handlers.presence, TAG, request_schema=PRESENCE_SCHEMA,
                     error_statuses=WRONG_STATE),
    ]


def absent_sandbox_routes() -> list[InboundRoute]:
    """What the sandbox's paths answer while another engine runs."""
    async def absent(request: InboundRequest) -> Any:
        raise NotFound(ABSENT)

    return [
        InboundRoute(path, "", absent, TAG, authenticated=False, documented=False)
        for path in (SCAN_PATH, INBOUND_PATH, PRESENCE_PATH)
    ]


class _Handlers:
    def __init__(self, phone: SimulatedPhone, connections: ConnectionDirectory) -> None:
        self._phone = phone
        self._connections = connections

    async def scan(self, request: InboundRequest) -> dict[str, Any]:
        connection = await self._connection(request)
        await self._phone.scan(connection)
        return connection_json(await self._connection(request))

    async def inbound(self, request: InboundRequest) -> dict[str, Any]:
        """A contact writes to the account."""
        body = request.json_object()
        connection = await self._connection(request)
        errors: list[str] = []
        sender = _contact(body, errors)
        text = _checked(body, "body", errors, _message_text)
        raise_if(errors)
        assert sender is not None and text is not None
        return {"id": await self._phone.inbound(connection, sender, text)}

    async def presence(self, request: InboundRequest) -> dict[str, Any]:
        """A contact's presence changes."""
        body = request.json_object()
        connection = await self._connection(request)
        errors: list[str] = []
        sender = _contact(body, errors)
        state = _checked(body, "presence", errors, _presence)
        raise_if(errors)
        assert sender is not None and state is not None
        await self._phone.presence(connection, sender, state)
        return {"success": True}

    async def _connection(self, request: InboundRequest) -> Connection:
        return await self._connections.owned(
            request.authenticated_user(), request.path_params["connection_id"]
        )


def _contact(body: dict[str, object], errors: list[str]) -> str | None:
    sender = string_field(body, "from", errors, required=True, max_length=64)
    if sender is not None and not _CONTACT.fullmatch(sender):
        errors.append("from must be a WhatsApp contact id such as 14155550123@c.us")
        return None
    return None if sender is None else sender.replace("@s.whatsapp.net", "@c.us")


def _checked(
    body: dict[str, object], key: str, errors: list[str], problem: Callable[[object], str | None]
) -> str | None:
    """The field when it is a valid string; otherwise its problem goes to `errors`."""
    value = body.get(key)
    message = problem(value)
    if message is not None:
        errors.append(message)
        return None
    return value if isinstance(value, str) else None


def _message_text(value: object) -> str | None:
    if not isinstance(value, str):
        return "body must be a string"
    if len(value) > MAX_BODY_CHARS:
        return f"body must be shorter than or equal to {MAX_BODY_CHARS} characters"
    return None


def _presence(value: object) -> str | None:
    return None if value in PRESENCES else f"presence must be one of: {', '.join(PRESENCES)}"
