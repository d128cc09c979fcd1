"""The sandbox engine's simulations: a phone scanning the QR code, a contact writing in.

Sandbox only: on a server running WAHA (real WhatsApp) these answer a tool error (HTTP 404).
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from wahooks.mcp.calls import call
from wahooks.mcp.parameters import ConnectionId
from wahooks.mcp.tools.registry import ToolSet

tools = ToolSet()


@tools.write
async def sandbox_scan(ctx: Context, connection_id: ConnectionId) -> dict[str, Any]:
    """Sandbox engine only: simulate a phone scanning the QR code; the connection becomes
    connected (and a session.status event is delivered)."""
    return await call(ctx, lambda api: api.sandbox_scan(connection_id))


@tools.write
async def sandbox_inbound_message(
    ctx: Context,
    connection_id: ConnectionId,
    sender: Annotated[str, Field(description="The contact writing in, e.g. 14155550123@c.us")],
    text: Annotated[str, Field(description="The message's text")],
) -> dict[str, Any]:
    """Sandbox engine only: simulate a contact sending a text message to the connected number;
    your webhooks receive it as message and message.any events."""
    return await call(ctx, lambda api: api.sandbox_inbound(connection_id, sender, text))
