"""How a tool reaches the API: through the SDK, as the caller, with API errors as tool errors.

Every tool is one SDK call. Where the SDK client comes from depends on the transport: `wahooks mcp`
(stdio) holds one client for its token and server URL; the server's own `/mcp` builds one per call,
over the server's ASGI app in-process, with the bearer token of the MCP request. Either way the API's
authentication, ownership checks and error answers apply unchanged. The `ApiSource` is what the
MCP server's lifespan yields, so a tool finds it in its context.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, Protocol, TypeVar, cast

import httpx
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent

from wahooks.client import WAHooksError
from wahooks.mcp.api_client import ApiClient

T = TypeVar("T")

Listing = Annotated[CallToolResult, list[dict[str, Any]]]
"""What a tool answering a list returns: the output schema is that of the list."""


class ApiSource(Protocol):
    """Hands a tool call its SDK client, given the headers of the MCP request (None on stdio)."""

    def client(
        self, headers: Mapping[str, str] | None
    ) -> AbstractAsyncContextManager[ApiClient]: ...


class FixedClient:
    """One client for the whole process: `wahooks mcp` acting with one token."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client

    @asynccontextmanager
    async def client(self, headers: Mapping[str, str] | None) -> AsyncIterator[ApiClient]:
        yield self._client


async def call(ctx: Context, request: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run one SDK call for this tool call; API errors and an unreachable API become tool
    errors with a message for the agent (never a traceback)."""
    source = cast(ApiSource, ctx.request_context.lifespan_context)  # what server.lifespan yields
    try:
        async with source.client(ctx.headers) as api:
            return await request(api)
    except WAHooksError as exc:
        raise ToolError(f"{exc.message} (HTTP {exc.status_code})") from None
    except httpx.TransportError as exc:
        raise ToolError(f"The wahooks API cannot be reached: {exc or type(exc).__name__}") from None


def listing(items: list[dict[str, Any]]) -> CallToolResult:
    """A list answer: structured as `{"result": [...]}`, and as one JSON text block for clients
    that read only text (the SDK would make one block per item, and none for an empty list)."""
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(items, indent=2))],
        structured_content={"result": items},
    )
