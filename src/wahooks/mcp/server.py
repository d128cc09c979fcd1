"""The wahooks MCP server: every tool, resource and prompt, for either transport.

`build_server(source)` is the one place they are put together; the transport decides only where
each tool call's API client comes from (see `calls.ApiSource`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import MCPServer

from wahooks.mcp.calls import ApiSource
from wahooks.mcp.resources import add_resources
from wahooks.mcp.tools import ALL
from wahooks.version import __version__

INSTRUCTIONS = """\
wahooks links WhatsApp numbers ("connections") and delivers their events to webhooks, signed,
retried and logged. Every tool acts as the account of the API token in use.
To link a number: get_or_create_scannable_connection, then show the QR image to the user to scan
(on the sandbox engine, sandbox_scan simulates the scan). To receive events: create_webhook with a
URL; read wahooks://signatures and wahooks://events to write the receiver; get_delivery_logs shows
each delivery and its attempts, redeliver sends one again. Chat ids look like 14155550123@c.us."""


def build_server(source: ApiSource) -> MCPServer[ApiSource]:
    @asynccontextmanager
    async def lifespan(_: MCPServer[ApiSource]) -> AsyncIterator[ApiSource]:
        yield source  # each tool call finds it in its context (calls.call)

    server: MCPServer[ApiSource] = MCPServer(
        "wahooks", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan,
        log_level="WARNING",
    )
    for spec in ALL:
        server.add_tool(spec.fn, annotations=spec.annotations)
    add_resources(server)
    return server
