"""`/api/ws` against a real `wahooks serve`, with real WebSocket clients (the `websockets`
library, and the SDK's own streams)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from support.receiver import Receiver
from support.server import ServerProcess, connected_connection
from wahooks import AsyncWAHooks, WAHooks, WAHooksError
from wahooks.serialization import dumps

FRAME_KEYS = ["event", "connectionId", "payload", "timestamp"]


def _url(server: ServerProcess, token: str | None, extra: str = "") -> str:
    query = "" if token is None else f"?token={token}{extra}"
    return f"ws://127.0.0.1:{server.port}/api/ws{query}"


@pytest.fixture(scope="module")
def owner(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def bob_token(server: ServerProcess) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "wahooks.cli", "user", "create", "--name", "bob",
         "--database", str(server.database)],
        capture_output=True, text=True, timeout=60, env=server.env, check=True,
    )
    return made.stdout.strip()


async def _closed(url: str) -> tuple[int, str]:
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _frame(ws: ClientConnection, event: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame of type `event`, skipping others."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["event"] == event:
            return frame


def _inbound(client: httpx.Client, connection_id: str, text: str) -> None:
    answer = client.post(f"/connections/{connection_id}/sandbox/inbound",
                         json={"from": "14155550123@c.us", "body": text})
    assert answer.status_code == 201, answer.text


def test_tokens_are_checked_at_connect(server: ServerProcess, owner: httpx.Client) -> None:
    token = owner.post("/tokens", json={"name": "revoked"}).json()
    assert owner.delete(f"/tokens/{token['id']}").status_code == 200

    async def check() -> None:
        assert await _closed(_url(server, None)) == (4001, "Missing token")
        assert await _closed(_url(server, "")) == (4001, "Missing token")
        assert await _closed(_url(server, "wh_" + "0" * 48)) == (4003, "Invalid token")
        assert await _closed(_url(server, "not-a-wh-token")) == (4003, "Invalid token")
        assert await _closed(_url(server, token["token"])) == (4003, "Invalid token")

    asyncio.run(check())


def test_events_of_connections_made_after_connecting_arrive_as_frames(
    server: ServerProcess, owner: httpx.Client
) -> None:
    async def check() -> None:
        async with connect(_url(server, server.token)) as plain, \
                connect(_url(server, server.token, "&envelope=true")) as full:
            with Receiver() as receiver:
                connection = await asyncio.to_thread(connected_connection, owner)
                hooked = owner.post(f"/connections/{connection['id']}/webhooks",
                                    json={"url": receiver.url, "events": ["message"]})
                assert hooked.status_code == 201
                await asyncio.to_thread(_inbound, owner, connection["id"], "Hello, héllo!")
                frame = await _frame(plain, "message")
                with_envelope = await _frame(full, "message")
                delivered = (await asyncio.to_thread(receiver.wait_for, 1))[0].body
            assert list(frame) == FRAME_KEYS
            assert frame["connectionId"] == connection["id"]
            assert frame["payload"] == json.loads(delivered)["payload"]
            assert list(with_envelope) == [*FRAME_KEYS, "envelope"]
            assert dumps(with_envelope["envelope"]) == delivered  # byte for byte
            pong = await plain.ping()
            await asyncio.wait_for(pong, 5)  # pings are answered

    asyncio.run(check())


def test_each_account_hears_only_its_own_connections(
    server: ServerProcess, owner: httpx.Client, bob_token: str
) -> None:
    async def check() -> None:
        async with connect(_url(server, bob_token)) as bobs:
            await asyncio.to_thread(connected_connection, owner)  # the owner's events
            with server.client(bob_token) as bob:
                own = (await asyncio.to_thread(bob.post, "/connections")).json()
            frame = json.loads(await asyncio.wait_for(bobs.recv(), 5))
            assert frame["connectionId"] == own["id"]

    asyncio.run(check())


def _slow_socket(port: int) -> socket.socket:
    """A client socket with a tiny receive window, so an unread backlog blocks the server soon."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


def test_a_client_that_cannot_keep_up_is_closed_and_slows_no_one(
    server: ServerProcess, owner: httpx.Client
) -> None:
    messages = 800
    text = os.urandom(2000).hex()  # incompressible, and no compression: the bytes really queue
    connection = connected_connection(owner)

    async def check() -> None:
        slow = await connect(_url(server, server.token), sock=_slow_socket(server.port),
                             max_queue=2, compression=None)
        async with connect(_url(server, server.token)) as fast:
            received = 0

            async def read_fast() -> None:
                nonlocal received
                while received < 2 * messages:
                    if json.loads(await fast.recv())["event"].startswith("message"):
                        received += 1

            reader = asyncio.create_task(read_fast())
            async with httpx.AsyncClient(base_url=server.base_url + "/api", headers={
                "Authorization": f"Bearer {server.token}"}) as http:
                body = {"from": "14155550123@c.us", "body": text}
                path = f"/connections/{connection['id']}/sandbox/inbound"
                for start in range(0, messages, 16):
                    sent = await asyncio.gather(*(http.post(path, json=body)
                                                  for _ in range(start, start + 16)))
                    assert all(answer.status_code == 201 for answer in sent)
            await asyncio.wait_for(reader, 20)
            assert received == 2 * messages  # the fast client got every frame

        got = 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(slow.recv(), 10)
                got += 1
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason.startswith("Too slow")
        assert got < 2 * messages

    asyncio.run(check())


def test_the_sdk_streams_hand_over_frames_and_stop_on_a_bad_token(
    server: ServerProcess, owner: httpx.Client
) -> None:
    assert server.token is not None
    connection = connected_connection(owner)
    events: list[dict[str, Any]] = []
    ready = threading.Event()

    with WAHooks(server.token, base_url=server.base_url) as client:
        stream = client.listen(on_event=lambda event: (events.append(event), stream.close()))
        stream.on_connect = ready.set
        thread = threading.Thread(target=stream.run_forever)
        thread.start()
        assert ready.wait(10)
        _inbound(owner, connection["id"], "to the sync stream")
        thread.join(10)
        assert not thread.is_alive() and stream.closed
        # Closed in the handler of the first event: `message.any`, right behind it, is not handed
        # over any more.
        assert [event["event"] for event in events] == ["message"]
        assert events[0]["payload"]["body"] == "to the sync stream"

    with WAHooks("wh_" + "1" * 48, base_url=server.base_url) as bad, \
            pytest.raises(WAHooksError) as refused:
        bad.listen().run_forever()
    assert (refused.value.status_code, refused.value.message) == (401, "Invalid token")

    async def async_stream(connected: asyncio.Event) -> None:
        assert server.token is not None
        async with AsyncWAHooks(server.token, base_url=server.base_url) as client:
            stream = client.listen(envelope=True)
            stream.on_connect = connected.set
            async for event in stream:
                if event["event"] == "message":
                    assert event["envelope"]["payload"]["body"] == "to the async stream"
                    await stream.close()
            assert stream.closed

        async with AsyncWAHooks("nope", base_url=server.base_url) as bad:
            with pytest.raises(WAHooksError):
                await bad.listen().run_forever()

    async def drive() -> None:
        connected = asyncio.Event()
        task = asyncio.create_task(async_stream(connected))
        await asyncio.wait_for(connected.wait(), 10)
        await asyncio.to_thread(_inbound, owner, connection["id"], "to the async stream")
        await asyncio.wait_for(task, 10)

    asyncio.run(drive())


def test_the_token_in_the_websocket_url_never_reaches_the_server_log(
    server: ServerProcess, bob_token: str
) -> None:
    async def scenario() -> None:
        async with connect(_url(server, bob_token)) as ws:
            await ws.ping()

    asyncio.run(scenario())
    log = "".join(server.output)
    assert "WebSocket /api/ws?token=wh_" in log  # the access line is there...
    assert bob_token not in log  # ...without the token
