"""Retries, dead letters and redelivery against real receivers, with a shortened schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from support.receiver import Receiver
from support.server import (
    ServerProcess,
    connected_connection,
    contact_writes,
    free_port,
    message_webhook,
    wait_until,
)
from wahooks.signing import signature


def _only_log(client: httpx.Client, webhook_id: str, status: str) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        logs = client.get(f"/webhooks/{webhook_id}/logs").json()
        return logs[0] if logs and logs[0]["status"] == status else None

    found: dict[str, Any] = wait_until(settled, timeout=15)
    return found


def test_failed_attempts_are_retried_on_schedule_until_one_lands(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(retry_schedule="0.3,0.6,5")
    with Receiver(statuses=[500, 503, 200]) as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "retry me")

        first, second, third = receiver.wait_for(3, timeout=15)
        log = _only_log(client, webhook["id"], "delivered")

    assert third.at - second.at >= 0.6 * 0.9
    assert second.at - first.at >= 0.3 * 0.9
    assert first.body == second.body == third.body
    assert len({r.headers["X-WAHooks-Delivery"] for r in (first, second, third)}) == 1
    for received in (first, second, third):  # each attempt is signed afresh, and verifies
        stamp = int(received.headers["X-WAHooks-Timestamp"])
        expected = signature(webhook["signingSecret"], stamp, received.body)
        assert received.headers["X-WAHooks-Signature"] == expected
    assert log["attempts"] == 3
    assert [a["statusCode"] for a in log["attemptLog"]] == [500, 503, 200]
    assert log["attemptLog"][0]["error"] == "HTTP 500: nope"
    assert log["deliveredAt"] is not None and log["lastError"] is None


def test_exhausted_retries_dead_letter_and_redelivery_brings_them_home(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(retry_schedule="0.1,0.1")
    with Receiver(statuses=[500, 500, 500, 200]) as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "dead letter")

        dead = _only_log(client, webhook["id"], "failed")
        assert dead["attempts"] == 3 and dead["nextAttemptAt"] is None
        assert [a["statusCode"] for a in dead["attemptLog"]] == [500, 500, 500]
        failed_only = client.get(f"/webhooks/{webhook['id']}/logs", params={"status": "failed"})
        assert [entry["id"] for entry in failed_only.json()] == [dead["id"]]

        again = client.post(f"/webhooks/{webhook['id']}/logs/{dead['id']}/redeliver")
        assert again.status_code == 201, again.text
        delivered = _only_log(client, webhook["id"], "delivered")

    assert len(receiver.requests) == 4
    assert delivered["id"] == dead["id"] and delivered["attempts"] == 4
    assert [a["statusCode"] for a in delivered["attemptLog"]] == [500, 500, 500, 200]


def test_bulk_redelivery_of_every_dead_letter(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(retry_schedule="")
    with Receiver(statuses=[500, 500, 200]) as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "one")
        contact_writes(client, connection["id"], "two")
        wait_until(lambda: len(client.get(
            f"/webhooks/{webhook['id']}/logs", params={"status": "failed"}).json()) == 2)

        again = client.post(f"/webhooks/{webhook['id']}/redeliver-failed")
        assert again.status_code == 201 and again.json() == {"success": True, "count": 2}
        wait_until(lambda: len(client.get(
            f"/webhooks/{webhook['id']}/logs", params={"status": "delivered"}).json()) == 2)
    texts = sorted(orjson.loads(r.body)["payload"]["body"] for r in receiver.requests[2:])
    assert texts == ["one", "two"]


def test_timeouts_refusals_and_redirects_are_failed_attempts_with_reasons(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(retry_schedule="", request_timeout="0.5")
    with Receiver(hang=True) as hung, Receiver(statuses=[302]) as redirecting, \
            server.client() as client:
        connection = connected_connection(client)
        closed_port = f"http://127.0.0.1:{free_port()}/webhook"
        cases = {
            "timeout: no response within 0.5 s": message_webhook(client, connection["id"], hung.url),
            "connection error": message_webhook(client, connection["id"], closed_port),
            "HTTP 302: redirect": message_webhook(client, connection["id"], redirecting.url),
        }
        contact_writes(client, connection["id"], "fails everywhere")
        for reason, webhook in cases.items():
            log = _only_log(client, webhook["id"], "failed")
            assert log["attempts"] == 1
            assert log["lastError"].startswith(reason), log["lastError"]
        assert len(redirecting.requests) == 1


def test_a_hung_endpoint_does_not_starve_a_healthy_one(
    start_server: Callable[..., ServerProcess],
) -> None:
    """More deliveries pile up for the hung endpoint than the dispatcher keeps in memory; the
    healthy endpoint still gets every one of its deliveries, and the hung one's wait, unlost."""
    import asyncio

    from test_crash_safety import _push  # the same concurrent inbound driver

    server = start_server(max_in_flight="16", max_in_flight_per_endpoint="2",
                          request_timeout="30", retry_schedule="60")
    with Receiver(hang=True) as hung, Receiver() as healthy, server.client() as client:
        connection = connected_connection(client)
        stuck = message_webhook(client, connection["id"], hung.url)
        message_webhook(client, connection["id"], healthy.url)
        events = 2500  # beyond the in-memory high-water mark (2048)
        acknowledged = asyncio.run(_push(server, connection["id"], events))
        assert len(acknowledged) == events

        healthy.wait_for(events, timeout=60)
        assert len(hung.requests) <= 2 + 1  # its in-flight cap, give or take a connection race
        pending = client.get(f"/webhooks/{stuck['id']}/logs",
                             params={"status": "pending", "limit": 1000}).json()
        assert len(pending) == 1000  # (a full page: they are all still there)
