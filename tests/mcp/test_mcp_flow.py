"""A whole agent's flow through MCP, over both transports, against a real `wahooks serve` and a
real receiver: link a number, subscribe a webhook, a contact writes, the delivery is logged, and
redelivered."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp_types import ImageContent

from support.mcp_client import TRANSPORTS, answer, mcp_session
from support.receiver import Receiver
from support.server import ServerProcess
from wahooks.signing import verify_signature

pytestmark = pytest.mark.acceptance

CONTACT = "14155550123@c.us"


async def delivered_log(session: ClientSession, webhook_id: str, timeout: float = 10.0) -> Any:
    """The webhook's newest delivery once it is recorded as delivered (the receiver may get the
    request a moment before the outcome is written)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = answer(await session.call_tool("get_delivery_logs", {"webhook_id": webhook_id}))
        if logs and logs[0]["status"] == "delivered":
            return logs[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no delivered log within {timeout} s: {logs}")
        await asyncio.sleep(0.02)


async def link_a_number(session: ClientSession) -> str:
    """A new connection, its QR code as an image, then the sandbox's simulated scan."""
    connection = answer(await session.call_tool("create_connection", {"name": "agent"}))
    qr = await session.call_tool("get_qr_code", {"connection_id": connection["id"]})
    images = [block for block in qr.content if isinstance(block, ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    assert base64.b64decode(images[0].data).startswith(b"\x89PNG\r\n\x1a\n")
    scanned = answer(await session.call_tool("sandbox_scan", {"connection_id": connection["id"]}))
    assert scanned["status"] == "connected"
    after = await session.call_tool("get_qr_code", {"connection_id": connection["id"]})
    assert after.structured_content == {"connected": True}
    return str(connection["id"])


async def flow(session: ClientSession, receiver: Receiver) -> None:
    connection_id = await link_a_number(session)
    webhook = answer(await session.call_tool("create_webhook", {
        "connection_id": connection_id, "url": receiver.url, "events": ["message"],
        "ordering": "chat",
    }))
    assert webhook["ordering"] == "chat"
    assert [hook["id"] for hook in answer(await session.call_tool(
        "list_webhooks", {"connection_id": connection_id}
    ))] == [webhook["id"]]

    answer(await session.call_tool("sandbox_inbound_message", {
        "connection_id": connection_id, "sender": CONTACT, "text": "Is my order shipped?",
    }))
    first = (await asyncio.to_thread(receiver.wait_for, 1))[0]
    verify_signature(first.body, first.headers, webhook["signingSecret"])
    event = json.loads(first.body)
    assert (event["event"], event["payload"]["body"]) == ("message", "Is my order shipped?")

    log = await delivered_log(session, webhook["id"])
    assert log["id"] == first.headers["X-WAHooks-Delivery"]
    assert log["eventType"] == "message" and log["payload"] == event
    assert [attempt["statusCode"] for attempt in log["attemptLog"]] == [200]

    answer(await session.call_tool("redeliver", {"webhook_id": webhook["id"], "log_id": log["id"]}))
    second = (await asyncio.to_thread(receiver.wait_for, 2))[1]
    assert second.body == first.body
    assert second.headers["X-WAHooks-Delivery"] == log["id"]
    assert second.headers["X-WAHooks-Attempt"] == "2"
    verify_signature(second.body, second.headers, webhook["signingSecret"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_agent_links_a_number_and_follows_a_delivery_to_its_redelivery(
    transport: str, server: ServerProcess, tmp_path: Path
) -> None:
    async def run() -> None:
        async with mcp_session(transport, server.base_url, server.token or "", tmp_path) as session:
            await flow(session, receiver)

    with Receiver() as receiver:
        asyncio.run(run())


def test_an_agent_sees_a_gone_webhook_held_and_enables_it_again(
    server: ServerProcess, tmp_path: Path
) -> None:
    async def run() -> tuple[Any, Any, Any]:
        async with mcp_session("http", server.base_url, server.token or "", tmp_path) as session:
            connection_id = await link_a_number(session)
            webhook = answer(await session.call_tool("create_webhook", {
                "connection_id": connection_id, "url": receiver.url, "events": ["message"],
            }))
            answer(await session.call_tool("sandbox_inbound_message", {
                "connection_id": connection_id, "sender": CONTACT, "text": "gone?",
            }))
            deadline = time.monotonic() + 10
            while (health := answer(await session.call_tool(
                "get_webhook_health", {"webhook_id": webhook["id"]}
            )))["disabledReason"] is None:
                assert time.monotonic() < deadline, health
                await asyncio.sleep(0.02)
            held = answer(await session.call_tool(
                "get_delivery_logs", {"webhook_id": webhook["id"], "status": "held"}
            ))
            receiver.statuses = [200]
            enabled = answer(await session.call_tool(
                "update_webhook", {"webhook_id": webhook["id"], "active": True}
            ))
            return health, held, enabled

    with Receiver(statuses=[410]) as receiver:
        health, held, enabled = asyncio.run(run())
        receiver.wait_for(2)

    assert health["disabledReason"] == "gone" and health["held"] == 1
    assert [entry["status"] for entry in held] == ["held"]
    assert enabled["active"] is True
