"""Per-chat ordering end to end: 100 chats x 50 messages to a webhook with `ordering: "chat"`, a
receiver that fails some attempts (deterministically) and checks that each chat's deliveries
arrive one at a time in event order, a delivering process SIGKILLed midway; on SQLite (one process,
killed and started again) and on PostgreSQL (two API processes taking turns with each chat's
events, and two workers, one killed)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from support.chat_receiver import ChatReceiver, some_early_attempts
from support.server import ServerProcess, connected_connection, wait_until

CHATS = 100
MESSAGES = 50
ENV = {
    "WAHOOKS_RETRY_SCHEDULE": "0.05,0.05,0.05,0.05,0.05",
    "WAHOOKS_LEASE_SECONDS": "3",
    "WAHOOKS_REQUEST_TIMEOUT": "2",
    "WAHOOKS_DELIVERED_KEPT": "1000000",  # every log row is checked at the end
}


def _chat(index: int) -> str:
    return f"1415555{index:04d}@c.us"


def _dead(chat: str, number: int) -> bool:
    """A few messages fail every attempt: dead letters, after which their chat goes on."""
    return hashlib.blake2b(f"{chat}:{number}".encode(), digest_size=1).digest()[0] < 3


def _fails(chat: str, number: int, attempt: int) -> bool:
    return _dead(chat, number) or some_early_attempts(chat, number, attempt)


@pytest.fixture
def processes() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for process in started:
        process.stop()


async def _push(base_urls: list[str], token: str, connection_id: str) -> None:
    """Each chat's messages in order, each acknowledged before the next is sent (so event order
    is the order of acknowledgement), taking turns among the API processes given (so one chat's
    events are acknowledged by different processes); the chats side by side."""
    urls = [f"{base}/api/connections/{connection_id}/sandbox/inbound" for base in base_urls]
    headers = {"Authorization": f"Bearer {token}"}

    async def chat(session: aiohttp.ClientSession, index: int) -> None:
        for number in range(MESSAGES):
            body = {"from": _chat(index), "body": str(number)}
            url = urls[(index + number) % len(urls)]
            async with session.post(url, json=body, headers=headers) as response:
                assert response.status == 201, await response.text()

    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(chat(session, index) for index in range(CHATS)))


def _ordered_webhook(client: Any, url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    connection = connected_connection(client)
    webhook = client.post(
        f"/connections/{connection['id']}/webhooks",
        json={"url": url, "events": ["message"], "ordering": "chat"},
    )
    assert webhook.status_code == 201, webhook.text
    assert webhook.json()["ordering"] == "chat"
    return connection, webhook.json()


def _all_logs(client: Any, webhook_id: str) -> list[dict[str, Any]]:
    logs: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        page = client.get(f"/webhooks/{webhook_id}/logs", params=params).json()
        logs += page
        if len(page) < 1000:
            return logs
        params["before"] = page[-1]["id"]


def _settled(client: Any, webhook_id: str) -> bool:
    pending = client.get(f"/webhooks/{webhook_id}/logs", params={"status": "pending", "limit": 1})
    return pending.status_code == 200 and pending.json() == []


def _check(receiver: ChatReceiver, logs: list[dict[str, Any]]) -> None:
    assert receiver.overlaps == []
    assert receiver.regressions == []
    expected = {
        _chat(i): [n for n in range(MESSAGES) if not _dead(_chat(i), n)] for i in range(CHATS)
    }
    assert receiver.delivered() == expected
    assert len(logs) == CHATS * MESSAGES
    dead = sum(_dead(_chat(i), n) for i in range(CHATS) for n in range(MESSAGES))
    assert 0 < dead < CHATS * MESSAGES // 20
    assert sorted(log["status"] for log in logs).count("failed") == dead
    assert {log["status"] for log in logs} == {"delivered", "failed"}


def test_each_chat_in_order_on_sqlite_through_a_crash(tmp_path: Path, processes: list[Any]) -> None:
    server = ServerProcess(tmp_path / "wahooks.db", env=ENV)
    processes.append(server)
    server.start()
    with ChatReceiver(fails=_fails, delay=0.002) as receiver, server.client() as client:
        connection, webhook = _ordered_webhook(client, receiver.url)
        assert server.token is not None
        asyncio.run(_push([server.base_url], server.token, connection["id"]))
        # Midway through the deliveries: no shutdown code runs, leases are left behind.
        wait_until(lambda: receiver.requests > CHATS * MESSAGES // 3, timeout=120)
        server.kill()
        server.start()
        wait_until(lambda: _settled(client, webhook["id"]), timeout=300, interval=0.5)
        _check(receiver, _all_logs(client, webhook["id"]))


def test_each_chat_in_order_on_postgres_with_two_apis_and_two_workers_one_killed(
    postgres_schema_url: Callable[[], str], processes: list[ServerProcess]
) -> None:
    url = postgres_schema_url()
    api = ServerProcess(url, role="api", env=ENV)
    processes.append(api.start())
    other_api = ServerProcess(url, role="api", env=ENV)
    processes.append(other_api.start())
    workers = [ServerProcess(url, role="worker", env=ENV) for _ in range(2)]
    for worker in workers:
        processes.append(worker.start())
    with ChatReceiver(fails=_fails, delay=0.002) as receiver, api.client() as client:
        connection, webhook = _ordered_webhook(client, receiver.url)
        assert api.token is not None

        async def run() -> None:
            pushing = asyncio.create_task(_push(
                [api.base_url, other_api.base_url], api.token or "", connection["id"]
            ))
            await asyncio.to_thread(
                wait_until, lambda: receiver.requests > CHATS * MESSAGES // 4, 120
            )
            workers[0].kill()  # its leases run out; the other worker takes its chats on
            await pushing

        asyncio.run(run())
        wait_until(lambda: _settled(client, webhook["id"]), timeout=300, interval=0.5)
        _check(receiver, _all_logs(client, webhook["id"]))
