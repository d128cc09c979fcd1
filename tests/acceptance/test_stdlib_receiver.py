"""The README's receiver without any dependency (standard library only) verifies real deliveries
and refuses forged ones. The README shows tests/receivers/stdlib_receiver.py verbatim."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.server import ServerProcess, connected_connection, wait_until
from wahooks.signing import signed_headers

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).parents[2]
RECEIVER = ROOT / "tests" / "receivers" / "stdlib_receiver.py"


def test_the_readme_shows_the_receiver_verbatim() -> None:
    assert RECEIVER.read_text() in (ROOT / "README.md").read_text()


@pytest.fixture
def receiver_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hooked(server: ServerProcess, receiver_port: int) -> Iterator[tuple[dict[str, str], str]]:
    with server.client() as client:
        connection = connected_connection(client)
        webhook = client.post(f"/connections/{connection['id']}/webhooks", json={
            "url": f"http://127.0.0.1:{receiver_port}/webhook", "events": ["message", "test"],
        }).json()
    env = {**os.environ, "SIGNING_SECRET": webhook["signingSecret"], "PORT": str(receiver_port)}
    process = subprocess.Popen([sys.executable, str(RECEIVER)], env=env,
                               stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{receiver_port}/webhook"
        # Up once it answers (401 to an unsigned request).
        wait_until(lambda: _answers(url))
        yield webhook, connection["id"]
    finally:
        process.terminate()
        process.wait(10)


def _answers(url: str) -> bool:
    try:
        return httpx.post(url, content=b"{}").status_code == 401
    except httpx.TransportError:
        return False


def test_it_verifies_deliveries_and_refuses_forgeries(
    server: ServerProcess, hooked: tuple[dict[str, str], str], receiver_port: int
) -> None:
    webhook, connection_id = hooked
    with server.client() as client:
        assert client.post(f"/webhooks/{webhook['id']}/test").status_code in (200, 201)
        sent = client.post(f"/connections/{connection_id}/sandbox/inbound",
                           json={"from": "14155550123@c.us", "body": "Hello, stdlib!"})
        assert sent.status_code == 201

        def settled() -> list[dict[str, object]] | None:
            logs = client.get(f"/webhooks/{webhook['id']}/logs").json()
            return logs if len(logs) == 2 and all(log["status"] != "pending" for log in logs) \
                else None

        logs = wait_until(settled)
    assert [(log["status"], log["attempts"]) for log in logs] == [("delivered", 1)] * 2

    url = f"http://127.0.0.1:{receiver_port}/webhook"
    body = b'{"event":"message","payload":{"body":"forged"}}'
    forged = signed_headers("not-the-secret", "message", body, int(time.time()))
    assert httpx.post(url, content=body, headers=forged).status_code == 401
    stale = signed_headers(webhook["signingSecret"], "message", body, int(time.time()) - 301)
    assert httpx.post(url, content=body, headers=stale).status_code == 401
    fresh = signed_headers(webhook["signingSecret"], "message", body, int(time.time()))
    assert httpx.post(url, content=body, headers=fresh).status_code == 200
