"""Crash safety: SIGKILL `wahooks serve` in the middle of a backlog of thousands of deliveries,
restart it on the same database, and every acknowledged event still reaches the receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from support.receiver import Receiver
from support.server import ServerProcess, connected_connection, wait_until

EVENTS = 3000


async def _push(server: ServerProcess, connection_id: str, count: int) -> list[int]:
    """Send `count` inbound messages, 32 at a time; returns the numbers that were acknowledged."""
    acknowledged: list[int] = []
    url = f"{server.base_url}/api/connections/{connection_id}/sandbox/inbound"
    headers = {"Authorization": f"Bearer {server.token}"}
    numbers = iter(range(count))

    async def worker(session: aiohttp.ClientSession) -> None:
        for number in numbers:
            body = {"from": "14155550123@c.us", "body": f"crash-{number}"}
            async with session.post(url, json=body, headers=headers) as response:
                if response.status == 201:
                    acknowledged.append(number)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(32)))
    return acknowledged


def _hooked_connection(
    server: ServerProcess, receiver: Receiver
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A connected sandbox connection whose `message` events go to `receiver`."""
    with server.client() as client:
        connection = connected_connection(client)
        webhook: dict[str, Any] = client.post(
            f"/connections/{connection['id']}/webhooks",
            json={"url": receiver.url, "events": ["message"]},
        ).json()
    return connection, webhook


def _numbers(receiver: Receiver) -> list[int]:
    found = []
    for received in list(receiver.requests):
        text = orjson.loads(received.body)["payload"]["body"]
        found.append(int(text.removeprefix("crash-")))
    return found


def test_sigkill_during_a_backlog_loses_nothing(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(max_in_flight_per_endpoint="16")
    # A slow receiver (16 in flight x 20 ms = ~800/s) keeps a backlog behind the ingest.
    with Receiver(delay=0.02) as receiver:
        connection, webhook = _hooked_connection(server, receiver)

        acknowledged = asyncio.run(_push(server, connection["id"], EVENTS))
        assert len(acknowledged) == EVENTS
        received_before_kill = len(receiver.requests)
        server.kill()
        assert received_before_kill < EVENTS, "no backlog: the kill proved nothing"

        server.start()
        wait_until(lambda: set(_numbers(receiver)) >= set(acknowledged), timeout=60)

        with server.client() as client:
            def all_delivered() -> list[dict[str, Any]] | None:
                logs: list[dict[str, Any]] = client.get(
                    f"/webhooks/{webhook['id']}/logs", params={"limit": 1000}
                ).json()
                pending = client.get(
                    f"/webhooks/{webhook['id']}/logs", params={"status": "pending"}
                ).json()
                return logs if not pending else None

            wait_until(all_delivered, timeout=30)
            logs: list[dict[str, Any]] = []
            before = None
            while True:
                params: dict[str, Any] = {"limit": 1000}
                if before:
                    params["before"] = before
                page = client.get(f"/webhooks/{webhook['id']}/logs", params=params).json()
                logs += page
                if len(page) < 1000:
                    break
                before = page[-1]["id"]

    numbers = _numbers(receiver)
    assert sorted(set(numbers)) == sorted(acknowledged)
    assert len(logs) == EVENTS and {log["status"] for log in logs} == {"delivered"}
    # Every receipt is an attempt in the log: a delivery received twice shows two attempts, the
    # first of them interrupted by the kill.
    received_per_delivery: dict[str, int] = {}
    for received in receiver.requests:
        key = received.headers["X-WAHooks-Delivery"]
        received_per_delivery[key] = received_per_delivery.get(key, 0) + 1
    for log in logs:
        assert received_per_delivery[log["id"]] <= log["attempts"]
        if log["attempts"] > 1:
            assert log["attemptLog"][0]["error"].startswith("interrupted")
    assert sum(log["attempts"] > 1 for log in logs) > 0, "no delivery was in flight at the kill"


def test_sigterm_hands_unsent_work_back_and_logs_no_phantom_attempts(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(max_in_flight_per_endpoint="8")
    with Receiver(delay=0.02) as receiver:
        connection, webhook = _hooked_connection(server, receiver)
        acknowledged = asyncio.run(_push(server, connection["id"], 1000))
        server.stop()  # SIGTERM: in-flight attempts finish, queued ones go back unattempted
        assert len(receiver.requests) < len(acknowledged), "no backlog: the stop proved nothing"

        server.start()
        wait_until(lambda: set(_numbers(receiver)) >= set(acknowledged), timeout=60)
        with server.client() as client:
            wait_until(lambda: not client.get(
                f"/webhooks/{webhook['id']}/logs", params={"status": "pending"}).json())
            logs = client.get(f"/webhooks/{webhook['id']}/logs", params={"limit": 1000}).json()

    # A clean stop delivers exactly once and counts exactly the attempts that were made.
    assert sorted(_numbers(receiver)) == sorted(acknowledged)
    assert len(logs) == 1000
    assert all(log["attempts"] == 1 and log["status"] == "delivered" for log in logs)
