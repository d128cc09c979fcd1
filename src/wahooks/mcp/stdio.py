"""`wahooks mcp`: the MCP tools over stdio, calling a wahooks server's API with one token."""

from __future__ import annotations

import asyncio

from wahooks.mcp.api_client import ApiClient
from wahooks.mcp.calls import FixedClient
from wahooks.mcp.server import build_server


async def serve_stdio(token: str, api_url: str) -> None:
    """Answer MCP requests on stdin/stdout until the client closes stdin."""
    async with ApiClient(token, api_url) as client:
        await build_server(FixedClient(client)).run_stdio_async()


def run_stdio(token: str, api_url: str) -> None:
    asyncio.run(serve_stdio(token, api_url))
