"""A crash while WAHA's events pour in loses none of them: `wahooks serve` (SQLite) is killed with
SIGKILL mid-burst, restarted, and WAHA resends every event it got no 2xx for, as it does. Each
event's id is taken in the transaction that stores it, so no id can be left taken for an event
that was never stored (its retry would be refused as a duplicate and the event lost)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
import orjson
import pytest

from support.receiver import Receiver
from support.server import ServerProcess, wait_until
from waha.fake import FakeWaha
from waha.test_acceptance import CONTACT, linked, signed, waha_key
from wahooks.engines.envelope import ulid

pytestmark = pytest.mark.acceptance

EVENTS = 2000
KILL_AFTER = 300  # acknowledged events before the SIGKILL: the rest are in flight or unsent
SENDERS = 32


def _bodies(session: str) -> list[bytes]:
    now = int(time.time() * 1000)
    return [
        json.dumps({"id": f"evt_{ulid()}", "timestamp": now, "event": "message", "session": session,
                    "payload": {"id": f"false_{CONTACT}_{number}", "from": CONTACT,
                                "body": f"pour-{number}"}}).encode()
        for number in range(EVENTS)
    ]


async def _pour(
    server: ServerProcess, bodies: list[bytes], numbers: list[int], key: str,
    on_acknowledged: Callable[[int], None] = lambda count: None,
) -> set[int]:
    """Post the numbered events, SENDERS at a time, as WAHA would; the numbers answered 2xx."""
    acknowledged: set[int] = set()
    pending = iter(numbers)
    url = server.base_url + "/api/events/waha"

    async def sender(session: aiohttp.ClientSession) -> None:
        for number in pending:
            headers = {"Content-Type": "application/json", **signed(key, bodies[number])}
            try:
                async with session.post(url, data=bodies[number], headers=headers) as answer:
                    await answer.read()
                    if 200 <= answer.status < 300:
                        acknowledged.add(number)
                        on_acknowledged(len(acknowledged))
            except (aiohttp.ClientError, OSError):
                pass  # the server is gone: WAHA retries this one later

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(sender(session) for _ in range(SENDERS)))
    return acknowledged


def _logs(client: httpx.Client, webhook_id: str) -> list[dict[str, Any]]:
    logs: list[dict[str, Any]] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"before": before} if before else {})}
        page = client.get(f"/webhooks/{webhook_id}/logs", params=params).json()
        logs += page
        if len(page) < 1000:
            return logs
        before = page[-1]["id"]


def _numbers(receiver: Receiver) -> set[int]:
    return {
        int(orjson.loads(received.body)["payload"]["body"].removeprefix("pour-"))
        for received in list(receiver.requests)
    }


def test_sigkill_while_waha_events_pour_in_loses_none(
    waha_server: ServerProcess, fake_waha: FakeWaha,
) -> None:
    with Receiver() as receiver:
        with waha_server.client() as client:
            connection = linked(client, fake_waha)
            made = client.post(f"/connections/{connection['id']}/webhooks",
                               json={"url": receiver.url, "events": ["message"]})
            assert made.status_code == 201, made.text
        webhook_id = made.json()["id"]
        key = waha_key(fake_waha, connection["sessionName"])
        bodies = _bodies(connection["sessionName"])

        def kill_once(count: int) -> None:
            if count >= KILL_AFTER and waha_server.process and waha_server.process.poll() is None:
                waha_server.kill()

        before_kill = asyncio.run(_pour(waha_server, bodies, list(range(EVENTS)), key, kill_once))
        assert len(before_kill) < EVENTS, "the kill came after the burst: it proved nothing"

        waha_server.start()
        unacknowledged = sorted(set(range(EVENTS)) - before_kill)
        deadline = time.monotonic() + 60
        while unacknowledged:  # WAHA's retries, until each gets its 2xx
            assert time.monotonic() < deadline, f"{len(unacknowledged)} retries not acknowledged"
            retried = asyncio.run(_pour(waha_server, bodies, unacknowledged, key))
            unacknowledged = [number for number in unacknowledged if number not in retried]

        wait_until(lambda: _numbers(receiver) == set(range(EVENTS)), timeout=60)
        with waha_server.client() as client:
            logs = _logs(client, webhook_id)
    # Each event stored once: the retry of one stored before the kill whose answer was lost is
    # taken as the duplicate it is.
    assert len(logs) == EVENTS
