"""The caller's account and its API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from wahooks.mcp.calls import Listing, call, listing
from wahooks.mcp.tools.registry import ToolSet

tools = ToolSet()


@tools.read
async def get_account(ctx: Context) -> dict[str, Any]:
    """The account these tools act as: id, email, name, isAdmin."""
    return await call(ctx, lambda api: api.get_me())


@tools.read
async def list_tokens(ctx: Context) -> Listing:
    """Your active API tokens: id, name, prefix, last use (never the tokens themselves)."""
    return listing(await call(ctx, lambda api: api.list_tokens()))


@tools.write
async def create_token(
    ctx: Context,
    name: Annotated[str, Field(description="What the token is for, e.g. ci")],
) -> dict[str, Any]:
    """A new API token for your account; the token itself is in this answer only."""
    return await call(ctx, lambda api: api.create_token(name))


@tools.destroy
async def revoke_token(
    ctx: Context,
    token_id: Annotated[str, Field(description="The token's id (see list_tokens)")],
) -> dict[str, Any]:
    """Revoke an API token: it stops working at once."""
    return await call(ctx, lambda api: api.revoke_token(token_id))
