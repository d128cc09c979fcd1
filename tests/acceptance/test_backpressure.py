"""Retry-After against a real receiver and a real server: a 429 or 503's hint stretches the wait
before the next attempt (in seconds or as an HTTP date), is capped by WAHOOKS_RETRY_AFTER_MAX, and
never adds or removes an attempt. The schedule is shortened so that the hint is what shows.

The gaps are lower bounds: a retry can never start before its due time, so they hold however
loaded the machine is; no test waits for a retry to happen early.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httpx

from support.receiver import Receiver
from support.server import (
    ServerProcess,
    connected_connection,
    contact_writes,
    message_webhook,
    wait_until,
)


def _settled_log(client: httpx.Client, webhook_id: str, status: str) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        logs = client.get(f"/webhooks/{webhook_id}/logs").json()
        return logs[0] if logs and logs[0]["status"] == status else None

    found: dict[str, Any] = wait_until(settled, timeout=20)
    return found


def test_retry_after_in_seconds_and_as_an_http_date_delays_the_next_attempt(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(retry_schedule="0.1,0.1,0.1")

    def hints(number: int) -> dict[str, str]:
        if number == 1:
            return {"Retry-After": "2"}
        if number == 2:  # 4 s from now, to the second: at least 3 s when the server reads it
            return {"Retry-After": formatdate(time.time() + 4, usegmt=True)}
        return {}

    with Receiver(statuses=[429, 503, 200], headers=hints) as receiver, \
            server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "throttled")
        log = _settled_log(client, webhook["id"], "delivered")
        first, second, third = receiver.requests

    assert second.at - first.at >= 2.0 - 0.01  # not the schedule's 0.1 s
    assert third.at - second.at >= 2.5
    assert log["attempts"] == 3
    assert [a["statusCode"] for a in log["attemptLog"]] == [429, 503, 200]


def test_a_hint_is_capped_and_never_changes_the_number_of_attempts(
    start_server: Callable[..., ServerProcess],
) -> None:
    # Retry-After asks for an hour; the cap makes it half a second, and the delivery is
    # dead-lettered after the schedule's two retries, as without a hint.
    server = start_server(retry_schedule="0.1,0.1", retry_after_max="0.5")
    with Receiver(statuses=[429], headers=lambda _: {"Retry-After": "3600"}) as receiver, \
            server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "throttled for an hour")
        dead = _settled_log(client, webhook["id"], "failed")
        times = [r.at for r in receiver.requests]

    assert dead["attempts"] == 3 and len(times) == 3
    assert [a["statusCode"] for a in dead["attemptLog"]] == [429, 429, 429]
    assert all(later - earlier >= 0.5 - 0.01 for earlier, later in zip(times, times[1:], strict=False))


def test_a_hint_never_makes_a_retry_earlier_than_the_schedule(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(retry_schedule="1.5")
    with Receiver(statuses=[503, 200], headers=lambda _: {"Retry-After": "0"}) as receiver, \
            server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "retry now, please")
        log = _settled_log(client, webhook["id"], "delivered")
        first, second = receiver.requests

    assert second.at - first.at >= 1.5 - 0.01
    assert log["attempts"] == 2
