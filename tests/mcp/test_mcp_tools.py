"""The MCP server's surface, with the `mcp` package's own client over both transports against a
real `wahooks serve`: the tools are those docs/mcp.md lists, errors are tool errors, `/mcp` needs
a token, and the resources an agent needs to write a receiver are there."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextResourceContents

from support.mcp_client import (
    TRANSPORTS,
    answer,
    create_account,
    documented_tools,
    mcp_session,
    signature,
    text_of,
)
from support.server import ServerProcess, free_port

pytestmark = pytest.mark.acceptance

DOCS = (Path(__file__).parents[2] / "docs" / "mcp.md").read_text("utf-8")
README = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
CATALOGUE = Path(__file__).parents[2] / "src" / "wahooks" / "mcp" / "catalogue"
HTTP_STATUS = re.compile(r"\(HTTP (\d{3})\)$")


@pytest.fixture(scope="module")
def bob_token(server: ServerProcess) -> str:
    """A second, isolated account."""
    return create_account(server, "bob")


@pytest.fixture(scope="module")
def owners_ids(server: ServerProcess) -> dict[str, str]:
    """A connection and a webhook of the owner's, made through the REST API."""
    with server.client() as owner:
        connection = owner.post("/connections").json()
        webhook = owner.post(f"/connections/{connection['id']}/webhooks",
                             json={"url": "http://127.0.0.1:9/hook", "events": ["*"]}).json()
    return {"connection_id": connection["id"], "webhook_id": webhook["id"]}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_tools_and_their_parameters_are_those_the_docs_list(
    transport: str, server: ServerProcess, tmp_path: Path
) -> None:
    async def listed() -> Any:
        async with mcp_session(transport, server.base_url, server.token or "", tmp_path) as session:
            return (await session.list_tools()).tools

    tools = asyncio.run(listed())
    assert {tool.name: signature(tool.input_schema) for tool in tools} == documented_tools(DOCS)
    for tool in tools:
        assert tool.description and tool.annotations is not None, tool.name
        for name, spec in tool.input_schema.get("properties", {}).items():
            assert spec.get("description"), f"{tool.name}.{name} has no description"
    assert "docs/mcp.md" in README and "`wahooks mcp" in README


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_another_accounts_ids_give_tool_errors_and_change_nothing(
    transport: str, server: ServerProcess, bob_token: str, owners_ids: dict[str, str],
    tmp_path: Path,
) -> None:
    connection_id, webhook_id = owners_ids["connection_id"], owners_ids["webhook_id"]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_connection", {"connection_id": connection_id}),
        ("get_qr_code", {"connection_id": connection_id}),
        ("delete_connection", {"connection_id": connection_id}),
        ("list_webhooks", {"connection_id": connection_id}),
        ("create_webhook", {"connection_id": connection_id, "url": "http://127.0.0.1:9/x"}),
        ("send_text", {"connection_id": connection_id, "chat_id": "14155550123@c.us",
                       "text": "hi", "skip_presence": True}),
        ("sandbox_scan", {"connection_id": connection_id}),
        ("update_webhook", {"webhook_id": webhook_id, "active": False}),
        ("delete_webhook", {"webhook_id": webhook_id}),
        ("get_delivery_logs", {"webhook_id": webhook_id}),
        ("test_webhook", {"webhook_id": webhook_id}),
    ]

    async def as_bob() -> list[CallToolResult]:
        async with mcp_session(transport, server.base_url, bob_token, tmp_path) as bob:
            mine = answer(await bob.call_tool("list_connections", {}))
            assert mine == []  # bob sees none of the owner's connections
            return [await bob.call_tool(name, arguments) for name, arguments in calls]

    for (name, _), result in zip(calls, asyncio.run(as_bob()), strict=True):
        assert result.is_error, name
        status = HTTP_STATUS.search(text_of(result))
        assert status and status.group(1) in {"403", "404"}, (name, text_of(result))
    with server.client() as owner:
        assert owner.get(f"/connections/{connection_id}").json()["status"] != "deleted"
        assert owner.get(f"/connections/{connection_id}/webhooks").json()[0]["active"] is True


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bad_arguments_and_api_refusals_are_tool_errors_without_tracebacks(
    transport: str, server: ServerProcess, tmp_path: Path
) -> None:
    async def calls() -> list[tuple[CallToolResult, str]]:
        async with mcp_session(transport, server.base_url, server.token or "", tmp_path) as session:
            connection = answer(await session.call_tool("create_connection", {}))
            cid = connection["id"]
            cases = [
                (("get_connection", {}), "connection_id"),  # a required argument missing
                (("list_chats", {"connection_id": cid, "limit": "many"}), "limit"),
                (("list_chats", {"connection_id": cid, "limit": 0}), "limit"),
                (("get_delivery_logs", {"webhook_id": "x", "status": "lost"}), "status"),
                (("send_location", {"connection_id": cid, "chat_id": "1@c.us",
                                    "latitude": 91, "longitude": 0}), "latitude"),
                (("no_such_tool", {}), "no_such_tool"),
                # Valid for the tool, refused by the API: its message and status come through.
                (("create_webhook", {"connection_id": cid, "url": "not a url"}), "(HTTP 400)"),
                (("get_connection", {"connection_id": "nope"}), "not found (HTTP 404)"),
                (("send_image", {"connection_id": cid, "chat_id": "14155550123@c.us"}),
                 "(HTTP 4"),
            ]
            return [(await session.call_tool(*call), expected) for call, expected in cases]

    for result, expected in asyncio.run(calls()):
        text = text_of(result)
        assert result.is_error, text
        assert expected in text, text
        assert "Traceback" not in text and 'File "' not in text


@pytest.mark.parametrize("credentials", ["env", "login"])
def test_wahooks_mcp_takes_its_token_from_the_environment_or_the_saved_login(
    credentials: str, server: ServerProcess, bob_token: str, tmp_path: Path
) -> None:
    async def who() -> Any:
        async with mcp_session("stdio", server.base_url, bob_token, tmp_path,
                               stdio_credentials=credentials) as session:
            return answer(await session.call_tool("get_account", {}))

    assert asyncio.run(who())["name"] == "bob"


def test_stdio_answers_a_tool_error_when_the_api_cannot_be_reached(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    async def listed() -> CallToolResult:
        async with mcp_session("stdio", nowhere, "wh_" + "0" * 48, tmp_path) as session:
            return await session.call_tool("list_connections", {})

    result = asyncio.run(listed())
    assert result.is_error and "cannot be reached" in text_of(result), text_of(result)


def test_wahooks_mcp_without_any_token_says_how_to_log_in(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wahooks.cli", "mcp"], capture_output=True, text=True, timeout=60,
        env={"WAHOOKS_CONFIG": str(tmp_path / "none.json"), "PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL, check=False,
    )
    assert done.returncode == 1
    assert "No token" in done.stderr and "wahooks login" in done.stderr
    assert done.stdout == ""  # stdout belongs to the protocol


INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "test", "version": "0"}},
}


@pytest.mark.parametrize("authorization", [None, "Bearer wh_" + "0" * 48, "Basic d2g6eA=="])
def test_mcp_over_http_without_a_valid_token_answers_401(
    server: ServerProcess, authorization: str | None
) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if authorization:
        headers["Authorization"] = authorization
    refused = httpx.post(f"{server.base_url}/mcp", json=INITIALIZE, headers=headers, timeout=30)
    assert refused.status_code == 401, refused.text
    assert refused.json()["message"]
    assert refused.headers["WWW-Authenticate"] == "Bearer"

    headers["Authorization"] = f"Bearer {server.token}"
    accepted = httpx.post(f"{server.base_url}/mcp", json=INITIALIZE, headers=headers, timeout=30)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["result"]["serverInfo"]["name"] == "wahooks"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_event_catalogue_and_the_signature_scheme_are_resources(
    transport: str, server: ServerProcess, tmp_path: Path
) -> None:
    async def read() -> tuple[list[str], dict[str, str], str]:
        async with mcp_session(transport, server.base_url, server.token or "", tmp_path) as session:
            listed = [str(item.uri) for item in (await session.list_resources()).resources]
            texts = {}
            for uri in ["wahooks://events", "wahooks://signatures", "wahooks://events/message",
                        "wahooks://events/session.status.scan_qr_code"]:
                content = (await session.read_resource(uri)).contents[0]
                assert isinstance(content, TextResourceContents)
                texts[uri] = content.text
            with pytest.raises(MCPError, match="No example named 'nope'"):
                await session.read_resource("wahooks://events/nope")
            prompt = await session.get_prompt(
                "write_webhook_receiver", {"language": "Go", "events": "message, message.any"}
            )
            return listed, texts, prompt.messages[0].content.text  # type: ignore[union-attr]

    listed, texts, prompt = asyncio.run(read())
    assert {"wahooks://events", "wahooks://signatures"} <= set(listed)
    index = json.loads(texts["wahooks://events"])
    assert {"message", "message.any", "message.ack", "session.status"} <= {
        entry["event"] for entry in index
    }
    assert json.loads(texts["wahooks://events/message"])["event"] == "message"
    scan = json.loads(texts["wahooks://events/session.status.scan_qr_code"])
    assert scan["payload"]["status"] == "SCAN_QR_CODE"
    for header in ("X-WAHooks-Signature", "X-WAHooks-Timestamp", "X-WAHooks-Delivery"):
        assert header in texts["wahooks://signatures"]
    assert "Go" in prompt and '"event": "message.any"' in prompt


def test_every_catalogued_example_is_a_shared_fixture_and_names_its_event(
    shared_dir: Path,
) -> None:
    index = json.loads((CATALOGUE / "events.json").read_text("utf-8"))
    examples = sorted(path.name for path in (CATALOGUE / "examples").glob("*.json"))
    assert sorted(f"{entry['example']}.json" for entry in index) == examples
    for entry in index:
        shipped = (CATALOGUE / "examples" / f"{entry['example']}.json").read_bytes()
        assert shipped == (shared_dir / "fixtures" / "waha" / f"{entry['example']}.json").read_bytes()
        assert json.loads(shipped)["event"] == entry["event"]


def test_neither_the_sdk_nor_the_cli_nor_the_server_loads_the_mcp_package() -> None:
    """The SDK must stay light; the server loads MCP on the first /mcp request only, since it
    costs about as much to import as the rest of the server."""
    check = (
        "import sys, wahooks.client, wahooks.cli, wahooks.app;"
        " loaded = [m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')];"
        " assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
