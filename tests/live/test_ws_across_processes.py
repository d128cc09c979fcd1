"""On PostgreSQL a WebSocket hears its account's events whichever API process ingested them: a
client on one process, events pushed through another (one small, one too large for a NOTIFY)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from support.server import ServerProcess, connected_connection


@pytest.fixture
def apis(postgres_schema_url: Callable[[], str]) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = postgres_schema_url()
    first = ServerProcess(url, role="api").start()
    second = ServerProcess(url, role="api").start()
    yield first, second
    first.stop()
    second.stop()


def test_a_websocket_on_one_process_hears_events_ingested_by_another(
    apis: tuple[ServerProcess, ServerProcess],
) -> None:
    listening, ingesting = apis
    token = listening.token
    assert token is not None
    texts = ["small", "x" * 20_000]  # the second is beyond NOTIFY's 8000-byte payload

    async def scenario() -> list[dict[str, Any]]:
        with ingesting.client(token) as client:
            connection = connected_connection(client)
            url = f"ws://127.0.0.1:{listening.port}/api/ws?token={token}"
            async with connect(url, max_size=None) as ws:
                await _until_heard(ws, client, connection["id"])
                for text in texts:
                    sent = client.post(f"/connections/{connection['id']}/sandbox/inbound",
                                       json={"from": "14155550123@c.us", "body": text})
                    assert sent.status_code == 201
                frames = []
                while len(frames) < len(texts):
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if frame["event"] == "message" and frame["payload"]["body"] != PROBE:
                        frames.append(frame)
                assert all(f["connectionId"] == connection["id"] for f in frames)
                return frames

    frames = asyncio.run(scenario())
    assert [frame["payload"]["body"] for frame in frames] == texts


PROBE = "probe: is the listener known yet?"


async def _until_heard(ws: Any, client: Any, connection_id: str) -> None:
    """Send probe events until one reaches the socket: then the ingesting process knows about
    the listener. (A fixed pause for that announcement fails on a loaded machine.)"""
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        sent = client.post(f"/connections/{connection_id}/sandbox/inbound",
                           json={"from": "14155550123@c.us", "body": PROBE})
        assert sent.status_code == 201
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                if frame["event"] == "message" and frame["payload"]["body"] == PROBE:
                    return
        except TimeoutError:
            continue
    raise AssertionError("no probe event reached the WebSocket within 30 s")
