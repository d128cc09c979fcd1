"""Connections (one WhatsApp number each), their QR code, profile, chats and messages."""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent
from pydantic import Field

from wahooks.mcp.calls import Listing, call, listing
from wahooks.mcp.parameters import ChatId, ConnectionId, Limit
from wahooks.mcp.tools.registry import ToolSet

tools = ToolSet()

SCAN_HINT = (
    "Scan this QR code with WhatsApp on the phone (Settings > Linked devices > Link a device)."
    " QR codes expire: ask again if the scan fails."
)


@tools.read
async def list_connections(ctx: Context) -> Listing:
    """Your WhatsApp connections (deleted ones excluded), each with its id and status:
    scan_qr (waiting for a QR scan), connected, or another engine state."""
    return listing(await call(ctx, lambda api: api.list_connections()))


@tools.write
async def create_connection(
    ctx: Context,
    name: Annotated[str | None, Field(description="A name to tell connections apart")] = None,
) -> dict[str, Any]:
    """A new connection, waiting for its QR code to be scanned (see get_qr_code)."""
    return await call(ctx, lambda api: api.create_connection(name=name))


@tools.write
async def get_or_create_scannable_connection(
    ctx: Context,
    virgin_only: Annotated[bool, Field(
        description="Reuse only connections never linked to a phone and without webhooks"
    )] = False,
) -> CallToolResult:
    """A connection ready to scan: one of yours that waits for a scan, else a new one. Answers
    its id and status, and the QR code as an image when there is one."""
    answer = await call(ctx, lambda api: api.get_or_create_scannable_connection(virgin_only))
    qr = answer.pop("qr", None)
    content: list[ContentBlock] = [TextContent(type="text", text=json.dumps(answer))]
    if qr:
        content += [ImageContent(type="image", data=qr, mime_type="image/png"),
                    TextContent(type="text", text=SCAN_HINT)]
    return CallToolResult(content=content, structured_content=answer)


@tools.read
async def get_connection(ctx: Context, connection_id: ConnectionId) -> dict[str, Any]:
    """One connection: id, name, status, the linked phone, when it was created."""
    return await call(ctx, lambda api: api.get_connection(connection_id))


@tools.destroy
async def delete_connection(ctx: Context, connection_id: ConnectionId) -> dict[str, Any]:
    """Stop and delete a connection: the phone is unlinked and its events stop."""
    return await call(ctx, lambda api: api.delete_connection(connection_id))


@tools.destroy
async def restart_connection(ctx: Context, connection_id: ConnectionId) -> dict[str, Any]:
    """Full reset: log the phone out; the connection waits for a new QR scan."""
    return await call(ctx, lambda api: api.restart_connection(connection_id))


@tools.read
async def get_qr_code(ctx: Context, connection_id: ConnectionId) -> CallToolResult:
    """The QR code to link a phone to this connection, as a PNG image; says so instead when the
    connection is already connected."""
    answer = await call(ctx, lambda api: api.get_qr(connection_id))
    if answer.get("connected"):
        return CallToolResult(
            content=[TextContent(type="text", text="This connection is already connected.")],
            structured_content={"connected": True},
        )
    return CallToolResult(
        content=[ImageContent(type="image", data=answer["value"], mime_type="image/png"),
                 TextContent(type="text", text=SCAN_HINT)],
        structured_content={"connected": False, "mimetype": "image/png"},
    )


@tools.read
async def get_profile(ctx: Context, connection_id: ConnectionId) -> dict[str, Any]:
    """The WhatsApp account linked to this connection (id, pushName...); `{"linked": false}`
    before a phone has scanned the QR code."""
    profile = await call(ctx, lambda api: api.get_profile(connection_id))
    return {"linked": True, **profile} if profile else {"linked": False}


@tools.read
async def list_chats(
    ctx: Context,
    connection_id: ConnectionId,
    limit: Limit = None,
    offset: Annotated[int | None, Field(ge=0, description="Skip this many chats")] = None,
) -> Listing:
    """Recent chats, newest first, each with its id and last message."""
    return listing(await call(
        ctx, lambda api: api.get_chats(connection_id, limit=limit, offset=offset)
    ))


@tools.read
async def get_messages(
    ctx: Context,
    connection_id: ConnectionId,
    chat_id: ChatId,
    limit: Annotated[int, Field(ge=1, le=500, description="At most this many messages")] = 50,
    before: Annotated[str | None, Field(
        description="The nextBefore of the previous page, for older messages"
    )] = None,
) -> dict[str, Any]:
    """A page of a chat's messages, newest first: {messages, nextBefore, historyStartsAt}."""
    return await call(
        ctx, lambda api: api.get_messages(connection_id, chat_id, limit=limit, before=before)
    )
