"""The MCP tools, one module per area of the API. Each module's `tools` lists its tools with the
hints an MCP client shows (read-only, destructive); `ALL` is every tool in the order listed."""

from __future__ import annotations

from wahooks.mcp.tools import account, connections, messaging, sandbox, webhooks
from wahooks.mcp.tools.registry import ToolSpec

ALL: tuple[ToolSpec, ...] = (
    *connections.tools.specs,
    *messaging.tools.specs,
    *webhooks.tools.specs,
    *account.tools.specs,
    *sandbox.tools.specs,
)

__all__ = ["ALL", "ToolSpec"]
