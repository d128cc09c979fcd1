"""Connections: linked WhatsApp numbers."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from wahooks.api.deps import BodyDep, PrincipalDep, ServicesDep
from wahooks.api.errors import OnlyMethods
from wahooks.api.openapi import ENGINE_STATUSES, errors, json_body
from wahooks.api.responses import empty_response, json_response
from wahooks.errors import BadRequest, EngineUnavailable
from wahooks.models import ConnectionStatus
from wahooks.schemas import api_status, connection_json, raise_if, string_field, string_schema

router = APIRouter(tags=["connections"])

MAX_CHATS = 500
ENGINE = errors(*ENGINE_STATUSES)
NAME_SCHEMA = {"type": "object", "properties": {
    "name": string_schema(required=False, description="A name of your choice"),
}}
GET_OR_CREATE_SCHEMA = {"type": "object", "properties": {
    "virgin_only": {"type": ["boolean", "null"],
                    "description": "Reuse only a connection that was never linked"},
    "virginOnly": {"type": ["boolean", "null"], "description": "The same, camel-cased"},
}}
# A linked connection answers its WhatsApp account; an unlinked one an empty body, which the
# official clients read as None (compat.md): zero bytes of text, so that the answer says what it is.
PROFILE_OR_NOTHING: dict[int | str, dict[str, Any]] = {200: {
    "description": "The linked account (WAHA's MeInfo), or an empty body when none is linked",
    "content": {"text/plain": {"schema": {"type": "string", "maxLength": 0}}},
}}


def _integer(value: str | None, default: int) -> int:
    try:
        return default if value is None else int(value)
    except ValueError:
        return default


@router.get("/api/connections", summary="List connections (deleted ones excluded)")
async def list_connections(principal: PrincipalDep, services: ServicesDep) -> Response:
    connections = await services.connections.list(principal.user)
    return json_response([connection_json(c) for c in connections])


@router.post("/api/connections", status_code=201, summary="Create a connection",
             responses=ENGINE, openapi_extra=json_body(NAME_SCHEMA, required=False))
async def create_connection(
    principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    errors: list[str] = []
    name = string_field(body, "name", errors, required=False)
    raise_if(errors)
    connection = await services.connections.create(principal.user, name)
    return json_response(connection_json(connection), 201)


@router.post(
    "/api/connections/get-or-create",
    status_code=201,
    summary="Reuse a connection waiting for a scan, or create one; answers its QR",
    responses=ENGINE,
    openapi_extra=json_body(GET_OR_CREATE_SCHEMA, required=False),
)
async def get_or_create(principal: PrincipalDep, services: ServicesDep, body: BodyDep) -> Response:
    virgin_only = body.get("virgin_only") or body.get("virginOnly") or False
    if not isinstance(virgin_only, bool):
        raise BadRequest("virgin_only must be a boolean value")
    service = services.connections
    connection = await service.reusable(principal.user, virgin_only=virgin_only)
    if connection is None:
        connection = await service.create(principal.user, None)
    else:
        connection = await service.restart(connection)
    png = await service.engine.qr_png(connection)
    return json_response(
        {
            "id": connection.id,
            "status": api_status(connection.status),
            "qr": base64.b64encode(png).decode() if png else None,
        },
        201,
    )


@router.api_route("/api/connections/get-or-create", methods=["GET", "PATCH", "DELETE"],
                  include_in_schema=False)
async def get_or_create_other_methods() -> Response:
    """The path is also /api/connections/{connection_id}'s: without this route its other methods
    would look up a connection named "get-or-create" (404) rather than answer 405."""
    raise OnlyMethods("POST")


@router.get("/api/connections/{connection_id}", summary="One connection")
async def get_connection(
    connection_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    return json_response(connection_json(connection))


@router.patch("/api/connections/{connection_id}", summary="Rename a connection",
              openapi_extra=json_body(NAME_SCHEMA, required=False))
async def rename_connection(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    errors: list[str] = []
    name = string_field(body, "name", errors, required=False)
    raise_if(errors)
    connection = await services.connections.rename(connection, name)
    return json_response(connection_json(connection))


@router.delete("/api/connections/{connection_id}", summary="Delete (stop) a connection",
               responses=ENGINE)
async def delete_connection(
    connection_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    connection = await services.connections.delete(connection)
    return json_response(connection_json(connection, raw_status=True))


@router.post(
    "/api/connections/{connection_id}/restart",
    status_code=201,
    summary="Full reset: log out and wait for a new QR scan",
    responses=ENGINE,
)
async def restart_connection(
    connection_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    connection = await services.connections.restart(connection)
    return json_response(connection_json(connection, raw_status=True), 201)


@router.get("/api/connections/{connection_id}/qr", summary="The QR code to scan, as base64 PNG",
            responses=ENGINE)
async def qr(
    connection_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    format: str | None = Query(  # noqa: A002 - WAHA's own name for it
        None, description="'raw': the text the QR code encodes, as {\"value\": ...}"
    ),
) -> Response:
    connection = services.connections.require_live(
        await services.connections.owned(principal.user, connection_id)
    )
    if connection.status is ConnectionStatus.WORKING:
        return json_response({"connected": True})
    engine = services.engine
    if format == "raw":
        text = await engine.qr_text(connection)
        if text is None:
            raise EngineUnavailable("Worker is starting up, please wait")
        return json_response({"value": text})
    png = await engine.qr_png(connection)
    if png is None:
        raise EngineUnavailable("Worker is starting up, please wait")
    return json_response({"value": base64.b64encode(png).decode(), "mimetype": "image/png"})


@router.get("/api/connections/{connection_id}/me", summary="The linked WhatsApp account",
            responses={**ENGINE, **PROFILE_OR_NOTHING})
async def me(connection_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    profile = await services.engine.me(connection)
    return empty_response(media_type="text/plain") if profile is None else json_response(profile)


@router.get("/api/connections/{connection_id}/chats", summary="Recent chats, newest first",
            responses=ENGINE)
async def chats(
    connection_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: str | None = Query(None, description="At most this many chats (1-500, default 20)"),
    offset: str | None = Query(None, description="Skip this many chats"),
) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    # The original ignores these parameters; the SDKs send whatever they were given, so a value
    # out of range is clamped rather than refused.
    found = await services.engine.chats(
        connection,
        limit=min(max(_integer(limit, 20), 1), MAX_CHATS),
        offset=max(_integer(offset, 0), 0),
    )
    return json_response(found)
