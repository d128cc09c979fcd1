"""A backlog does not hold up a healthy webhook: with thousands of deliveries waiting for a receiver
that hangs (the dispatcher busy: more waiting in memory than its high water, and nothing drains), a
new event to a webhook on a receiver that answers is still delivered, on SQLite and on PostgreSQL.

Deterministic, not timed: the hung receiver never answers during the test, so the backlog cannot
drain. Before the fix, ingest left the new event in the database while the dispatcher was busy,
and the claim loop (which takes the oldest due first, and only once the dispatcher has room) never
reached it: it waited behind the whole backlog.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from support.receiver import Receiver
from support.server import ServerProcess, connected_connection, contact_writes, message_webhook

BACKLOG_WEBHOOKS = 8
BACKLOG_EVENTS = 400  # 3,200 deliveries: over the dispatcher's high water (2,048 waiting), and
# each webhook's 400 under its queue's cap (512), so none is saturated and all count as busy
PENDING = re.compile(r'^wahooks_deliveries\{status="pending"\} (\S+)$', re.MULTILINE)


def _pending(server: ServerProcess, client: httpx.Client) -> float:
    found = PENDING.search(client.get(server.base_url + "/metrics").text)
    assert found is not None
    return float(found.group(1))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_healthy_webhooks_new_event_is_delivered_while_a_backlog_hangs(
    backend: str,
    postgres_schema_url: Callable[[], str],  # first: its schemas are dropped after the server stops
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(
        None if backend == "sqlite" else postgres_schema_url(),
        request_timeout="3600", max_in_flight="256",  # high water: max(4 x 256, 2048)
    )
    with Receiver(hang=True) as hung, Receiver() as healthy, server.client() as client:
        backlog = connected_connection(client)
        for _ in range(BACKLOG_WEBHOOKS):
            message_webhook(client, backlog["id"], hung.url)
        fresh = connected_connection(client)
        message_webhook(client, fresh["id"], healthy.url)
        for n in range(BACKLOG_EVENTS):
            contact_writes(client, backlog["id"], f"backlog {n}")
        hung.wait_for(1)  # the dispatcher has the backlog on the wire, and none of it ends

        contact_writes(client, fresh["id"], "fresh")
        (received,) = healthy.wait_for(1, timeout=30)
        assert b"fresh" in received.body
        # Delivered while (nearly) the whole backlog still waits: none of it was answered.
        assert _pending(server, client) >= BACKLOG_WEBHOOKS * BACKLOG_EVENTS
