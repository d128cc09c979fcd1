"""Drive the sandbox engine: scan a QR code, receive a message, see a contact type.

These routes exist only while the sandbox is the engine; they answer 201 on success."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.responses import Response

from wahooks.accounts import Principal
from wahooks.api.deps import BodyDep, PrincipalDep, ServicesDep
from wahooks.api.responses import json_response
from wahooks.engines.sandbox import PRESENCES, SandboxEngine
from wahooks.errors import NotFound
from wahooks.schemas import connection_json, raise_if, string_field

if TYPE_CHECKING:
    from wahooks.services import Services

router = APIRouter(tags=["sandbox"])

_CONTACT = re.compile(r"^\d{5,20}@(c\.us|s\.whatsapp\.net|lid)$")
MAX_BODY_CHARS = 65_536


def _sandbox(services: Services) -> SandboxEngine:
    engine = services.engine
    if not isinstance(engine, SandboxEngine):
        raise NotFound("The sandbox routes exist only when the sandbox engine runs")
    return engine


def _contact(body: dict[str, object], errors: list[str]) -> str | None:
    sender = string_field(body, "from", errors, required=True, max_length=64)
    if sender is not None and not _CONTACT.match(sender):
        errors.append("from must be a WhatsApp contact id such as 14155550123@c.us")
        return None
    return None if sender is None else sender.replace("@s.whatsapp.net", "@c.us")


@router.post("/api/connections/{connection_id}/sandbox/scan", status_code=201,
             summary="Sandbox: a phone scans the QR code; the connection becomes connected")
async def scan(connection_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    engine = _sandbox(services)
    connection = await services.connections.owned(principal.user, connection_id)
    await engine.scan(connection)
    connection = await services.connections.owned(principal.user, connection_id)
    return json_response(connection_json(connection), 201)


async def receive_message(
    services: Services, principal: Principal, connection_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """A contact writes to the account. Shared by the FastAPI route (docs) and the hot path."""
    engine = _sandbox(services)
    connection = await services.connections.owned(principal.user, connection_id)
    errors: list[str] = []
    sender = _contact(body, errors)
    text = body.get("body")
    if not isinstance(text, str):
        errors.append("body must be a string")
    elif len(text) > MAX_BODY_CHARS:
        errors.append(f"body must be shorter than or equal to {MAX_BODY_CHARS} characters")
    raise_if(errors)
    assert sender is not None and isinstance(text, str)
    return {"id": await engine.inbound(connection, sender, text)}


async def change_presence(
    services: Services, principal: Principal, connection_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """A contact's presence changes. Shared by the FastAPI route (docs) and the hot path."""
    engine = _sandbox(services)
    connection = await services.connections.owned(principal.user, connection_id)
    errors: list[str] = []
    sender = _contact(body, errors)
    state = body.get("presence")
    if state not in PRESENCES:
        errors.append(f"presence must be one of: {', '.join(PRESENCES)}")
    raise_if(errors)
    assert sender is not None and isinstance(state, str)
    await engine.presence(connection, sender, state)
    return {"success": True}


# Served by wahooks.api.hot_path, which answers before FastAPI sees the request; these
# declarations document the routes in the OpenAPI schema and serve any request that bypasses it.


@router.post("/api/connections/{connection_id}/sandbox/inbound", status_code=201,
             summary="Sandbox: a contact writes to the account (message, message.any)")
async def inbound(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    return json_response(await receive_message(services, principal, connection_id, body), 201)


@router.post("/api/connections/{connection_id}/sandbox/presence", status_code=201,
             summary="Sandbox: a contact's presence changes (presence.update)")
async def presence(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    return json_response(await change_presence(services, principal, connection_id, body), 201)
