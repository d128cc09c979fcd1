"""MCP sessions with the `mcp` package's own client, over stdio (`wahooks mcp` as a subprocess)
and Streamable HTTP (`/mcp` on the server), against a real `wahooks serve`.

Helpers rather than a conftest: a `tests/mcp` package would shadow the `mcp` package itself."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from support.server import ServerProcess

TRANSPORTS = ["stdio", "http"]


@asynccontextmanager
async def mcp_session(
    transport: str, base_url: str, token: str, tmp_path: Path, *, stdio_credentials: str = "flags"
) -> AsyncIterator[ClientSession]:
    """An initialised MCP session with the wahooks server at `base_url`, acting with `token`.

    `wahooks mcp` gets the token and URL as `stdio_credentials` says: "flags" (--token,
    --api-url), "env" (WAHOOKS_TOKEN, WAHOOKS_API_URL) or "login" (the CLI's saved login)."""
    if transport == "http":
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            streamable_http_client(f"{base_url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session
        return
    config = tmp_path / "wahooks.json"  # never the developer's own login
    args = ["-m", "wahooks.cli", "mcp"]
    env = {"WAHOOKS_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}
    if stdio_credentials == "flags":
        args += ["--token", token, "--api-url", base_url]
    elif stdio_credentials == "env":
        env |= {"WAHOOKS_TOKEN": token, "WAHOOKS_API_URL": base_url}
    else:
        config.write_text(json.dumps({"api_url": base_url, "token": token}))
    parameters = StdioServerParameters(command=sys.executable, args=args, env=env)
    with (tmp_path / "mcp-stderr.log").open("w") as errlog:
        async with (
            stdio_client(parameters, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def answer(result: CallToolResult) -> Any:
    """A successful tool call's structured answer (lists come wrapped as {"result": [...]})."""
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None, result
    return data["result"] if set(data) == {"result"} else data


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def create_account(server: ServerProcess, name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "wahooks.cli", "user", "create", "--name", name,
         "--database", str(server.database)],
        check=False, capture_output=True, text=True, timeout=60, env=server.env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def signature(schema: dict[str, Any]) -> str:
    """A tool's parameters as the docs' tools table writes them: `name: type` when required,
    `name?: type` when optional, in the schema's order; "—" when it takes none."""
    required = set(schema.get("required", []))
    parts = [
        f"`{name}{'' if name in required else '?'}: {_type(spec)}`"
        for name, spec in schema.get("properties", {}).items()
    ]
    return ", ".join(parts) or "—"


def _type(spec: dict[str, Any]) -> str:
    if "anyOf" in spec:
        return " or ".join(_type(part) for part in spec["anyOf"] if part.get("type") != "null")
    if "enum" in spec:
        return " or ".join(json.dumps(value) for value in spec["enum"])
    if spec.get("type") == "array":
        return f"{_type(spec['items'])}[]"
    return str(spec["type"])


def documented_tools(markdown: str) -> dict[str, str]:
    """The docs' tools table: tool name -> its Parameters cell."""
    tools: dict[str, str] = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            tools[cells[0].strip("`")] = cells[1]
    return tools
