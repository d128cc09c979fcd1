"""Endpoint health with hold and replay, against real servers and real receivers: a 410 disables a
webhook at once, a failing period with enough dead letters disables it, its new events are held
(listed, counted, never attempted), the held cap drops the oldest and counts them while the
dead-letter cap leaves them alone, and enabling it replays them in event order with trigger
`replay`. A webhook switched off by hand neither delivers nor holds. /api/ws hears both changes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from support.receiver import Receiver
from support.server import (
    ServerProcess,
    connected_connection,
    contact_writes,
    message_webhook,
    wait_until,
)

# One request at a time to the receiver, so it sees the deliveries in the order they are taken.
ONE_AT_A_TIME = {"retry_schedule": "0.1,0.1", "max_in_flight_per_endpoint": "1"}


def _shown(client: httpx.Client, connection_id: str, webhook_id: str) -> dict[str, Any]:
    listed = client.get(f"/connections/{connection_id}/webhooks").json()
    found: dict[str, Any] = next(w for w in listed if w["id"] == webhook_id)
    return found


def _logs(client: httpx.Client, webhook_id: str, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(
        f"/webhooks/{webhook_id}/logs", params={"limit": "1000", **params}
    ).json()
    return found


def _texts(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["payload"]["payload"]["body"] for entry in entries]


def _received_texts(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["payload"]["body"] for r in list(receiver.requests)]


def _health(client: httpx.Client, webhook_id: str) -> dict[str, Any]:
    answer = client.get(f"/webhooks/{webhook_id}/health")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _frame(ws: ClientConnection, event: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if frame["event"] == event:
            return frame


def test_a_410_disables_at_once_new_events_are_held_and_enabling_replays_them_in_order(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(**ONE_AT_A_TIME)
    with Receiver(statuses=[410]) as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)

        async def run() -> tuple[dict[str, Any], dict[str, Any]]:
            async with connect(
                f"ws://127.0.0.1:{server.port}/api/ws?token={server.token}"
            ) as ws:
                await asyncio.to_thread(contact_writes, client, connection["id"], "m0")
                disabled = await _frame(ws, "webhook.disabled")
                for number in range(1, 6):
                    await asyncio.to_thread(contact_writes, client, connection["id"], f"m{number}")
                receiver.statuses = [200]
                enabled_answer = await asyncio.to_thread(
                    client.put, f"/webhooks/{webhook['id']}", json={"active": True}
                )
                assert enabled_answer.status_code == 200, enabled_answer.text
                assert enabled_answer.json()["active"] is True
                return disabled, await _frame(ws, "webhook.enabled")

        # Before the enable, inside run(): checked here from what the server logged.
        disabled, enabled = asyncio.run(run())
        received = receiver.wait_for(7)
        wait_until(lambda: len(_logs(client, webhook["id"], status="delivered")) == 6)
        logs = _logs(client, webhook["id"])

    assert disabled["connectionId"] == connection["id"]
    assert disabled["payload"]["webhookId"] == webhook["id"]
    assert disabled["payload"]["disabledReason"] == "gone"
    assert disabled["payload"]["active"] is False
    assert enabled["payload"] == {
        "webhookId": webhook["id"], "active": True, "disabledReason": None, "disabledAt": None,
        "replayed": 6,
    }
    # The 410 first, then the six held deliveries (the 410's own among them) in event order.
    assert len(received) == 7
    assert _received_texts(receiver) == ["m0", "m0", "m1", "m2", "m3", "m4", "m5"]
    for entry in logs:
        assert entry["status"] == "delivered"
        assert entry["attemptLog"][-1]["trigger"] == "replay"
    first = next(entry for entry in logs if _texts([entry]) == ["m0"])
    assert [(a["statusCode"], a["trigger"]) for a in first["attemptLog"]] == [
        (410, "scheduled"), (200, "replay"),
    ]


def test_while_disabled_events_are_held_listed_counted_never_attempted(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(**ONE_AT_A_TIME)
    with Receiver(statuses=[410]) as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "m0")
        wait_until(lambda: _shown(client, connection["id"], webhook["id"])["active"] is False)
        shown = _shown(client, connection["id"], webhook["id"])
        for number in range(1, 4):
            contact_writes(client, connection["id"], f"m{number}")
        held = _logs(client, webhook["id"], status="held")
        health = _health(client, webhook["id"])
        redeliver = client.post(f"/webhooks/{webhook['id']}/logs/{held[0]['id']}/redeliver")
        metrics = client.get(server.base_url + "/metrics").text

    assert shown["disabledReason"] == "gone" and shown["disabledAt"] is not None
    assert _texts(held) == ["m3", "m2", "m1", "m0"]  # newest first, the 410's own too
    assert all(entry["nextAttemptAt"] is None for entry in held)
    assert [len(entry["attemptLog"]) for entry in held] == [0, 0, 0, 1]
    assert len(receiver.requests) == 1  # only the 410
    assert health["held"] == 4
    assert health["disabledReason"] == "gone"
    assert health["lastFailureAt"] is not None and health["lastSuccessAt"] is None
    assert health["attempts24h"] == 1 and health["successRate24h"] == 0
    assert redeliver.status_code == 409
    assert "held" in redeliver.json()["message"]
    assert 'wahooks_deliveries{status="held"} 4.0' in metrics


def test_every_delivery_failing_for_the_period_with_enough_dead_letters_disables(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(
        retry_schedule="0.05", disable_after="1", disable_min_dead_letters="2",
    )
    with Receiver(statuses=[500]) as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "m1")
        wait_until(lambda: _logs(client, webhook["id"], status="failed"))
        one_dead_letter = _shown(client, connection["id"], webhook["id"])
        # The period is measured from the first failure: let it pass, then a second dead letter.
        since = _health(client, webhook["id"])["failingSince"]
        started = time.time()
        wait_until(lambda: time.time() - started > 1.1, timeout=5)
        contact_writes(client, connection["id"], "m2")
        wait_until(lambda: _shown(client, connection["id"], webhook["id"])["active"] is False)
        shown = _shown(client, connection["id"], webhook["id"])
        health = _health(client, webhook["id"])
        contact_writes(client, connection["id"], "m3")
        held = _logs(client, webhook["id"], status="held")
        failed = _logs(client, webhook["id"], status="failed")

    assert one_dead_letter["active"] is True  # one dead letter is not enough
    assert since is not None
    assert shown["disabledReason"] == "failing"
    assert health["consecutiveDeadLetters"] == 2
    # The dead letter that disabled it became held with the new event; the first stays dead.
    assert _texts(failed) == ["m1"]
    assert _texts(held) == ["m3", "m2"]
    assert len(receiver.requests) == 4  # two attempts each for m1 and m2, none for m3


def test_a_success_resets_the_streak(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(
        retry_schedule="0.05", disable_after="0.001", disable_min_dead_letters="2",
    )
    with Receiver(statuses=[500, 500, 200, 500]) as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "m1")
        wait_until(lambda: _logs(client, webhook["id"], status="failed"))
        contact_writes(client, connection["id"], "ok")
        wait_until(lambda: _logs(client, webhook["id"], status="delivered"))
        after_success = _health(client, webhook["id"])
        contact_writes(client, connection["id"], "m2")
        wait_until(lambda: len(_logs(client, webhook["id"], status="failed")) == 2)
        shown = _shown(client, connection["id"], webhook["id"])
        assert len(receiver.requests) == 5

    assert after_success["consecutiveDeadLetters"] == 0
    assert after_success["failingSince"] is None
    assert after_success["lastSuccessAt"] is not None
    assert shown["active"] is True  # one dead letter since the success: not enough


def test_switched_off_by_hand_neither_delivers_nor_holds(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(**ONE_AT_A_TIME)
    with Receiver() as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        off = client.put(f"/webhooks/{webhook['id']}", json={"active": False}).json()
        contact_writes(client, connection["id"], "while off")
        logs_while_off = _logs(client, webhook["id"])
        on = client.put(f"/webhooks/{webhook['id']}", json={"active": True}).json()
        contact_writes(client, connection["id"], "after")
        receiver.wait_for(1)
        health = _health(client, webhook["id"])

    assert off["active"] is False and off["disabledReason"] is None
    assert logs_while_off == []
    assert on["active"] is True
    assert _received_texts(receiver) == ["after"]
    assert health["held"] == 0


def test_switching_off_a_disabled_webhook_keeps_what_it_held_until_it_is_on_again(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(**ONE_AT_A_TIME)
    with Receiver(statuses=[410]) as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "m0")
        wait_until(lambda: _shown(client, connection["id"], webhook["id"])["active"] is False)
        contact_writes(client, connection["id"], "m1")
        off = client.put(f"/webhooks/{webhook['id']}", json={"active": False}).json()
        contact_writes(client, connection["id"], "while off")  # neither delivered nor held
        held_while_off = _logs(client, webhook["id"], status="held")
        receiver.statuses = [200]
        client.put(f"/webhooks/{webhook['id']}", json={"active": True})
        receiver.wait_for(3)
        wait_until(lambda: len(_logs(client, webhook["id"], status="delivered")) == 2)

    assert off["active"] is False and off["disabledReason"] is None
    assert _texts(held_while_off) == ["m1", "m0"]
    assert _received_texts(receiver) == ["m0", "m0", "m1"]


def test_the_held_cap_drops_the_oldest_and_counts_them_and_the_dead_letter_cap_spares_held(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(
        **ONE_AT_A_TIME, held_max="3", dead_letters_kept="1", retention_interval="0.2",
    )
    with Receiver(statuses=[410]) as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], receiver.url)
        contact_writes(client, connection["id"], "m0")
        wait_until(lambda: _shown(client, connection["id"], webhook["id"])["active"] is False)
        for number in range(1, 6):
            contact_writes(client, connection["id"], f"m{number}")
        health = wait_until(
            lambda: (found := _health(client, webhook["id"]))["heldDropped"] == 3 and found,
            timeout=20,
        )
        held = _logs(client, webhook["id"], status="held")
        assert len(receiver.requests) == 1

    assert health["held"] == 3
    assert _texts(held) == ["m5", "m4", "m3"]  # the newest three, with dead_letters_kept=1


def test_bad_enable_is_a_400_and_another_accounts_health_a_403(server: ServerProcess) -> None:
    with server.client() as client:
        connection = connected_connection(client)
        webhook = message_webhook(client, connection["id"], "http://127.0.0.1:9/webhook")
        bad = client.put(f"/webhooks/{webhook['id']}", json={"active": "yes"})
        unknown = client.get("/webhooks/00000000-0000-7000-8000-000000000000/health")
        held = client.get(f"/webhooks/{webhook['id']}/logs", params={"status": "held"})
        wrong = client.get(f"/webhooks/{webhook['id']}/logs", params={"status": "parked"})

    assert bad.status_code == 400 and "active must be a boolean value" in bad.json()["message"]
    assert unknown.status_code == 404
    assert held.status_code == 200 and held.json() == []
    assert wrong.status_code in (400, 422)


def test_on_postgres_a_worker_disables_the_api_holds_and_an_enable_replays_through_the_workers(
    postgres_schema_url: Callable[[], str],
) -> None:
    url = postgres_schema_url()
    env = {"WAHOOKS_RETRY_SCHEDULE": "0.1,0.1", "WAHOOKS_LEASE_SECONDS": "3",
           "WAHOOKS_REQUEST_TIMEOUT": "1.5"}
    started: list[ServerProcess] = []
    try:
        for role in ("api", "worker", "worker"):
            started.append(ServerProcess(url, role=role, env=env).start())
        api = started[0]
        with Receiver(statuses=[410]) as receiver, api.client() as client:
            connection = connected_connection(client)
            webhook = message_webhook(client, connection["id"], receiver.url)

            async def run() -> tuple[dict[str, Any], dict[str, Any]]:
                async with connect(f"ws://127.0.0.1:{api.port}/api/ws?token={api.token}") as ws:
                    # The API process has no dispatcher: a worker gets the 410 and disables it.
                    await asyncio.to_thread(contact_writes, client, connection["id"], "m0")
                    disabled = await _frame(ws, "webhook.disabled")
                    for number in range(1, 4):
                        await asyncio.to_thread(contact_writes, client, connection["id"], f"m{number}")
                    held = await asyncio.to_thread(_logs, client, webhook["id"], status="held")
                    assert _texts(held) == ["m3", "m2", "m1", "m0"]
                    receiver.statuses = [200]
                    await asyncio.to_thread(
                        client.put, f"/webhooks/{webhook['id']}", json={"active": True}
                    )
                    return disabled, await _frame(ws, "webhook.enabled")

            disabled, enabled = asyncio.run(run())
            receiver.wait_for(5, timeout=30)
            wait_until(
                lambda: len(_logs(client, webhook["id"], status="delivered")) == 4, timeout=30
            )
            logs = _logs(client, webhook["id"])
    finally:
        for process in started:
            process.stop()

    assert disabled["payload"]["disabledReason"] == "gone"
    assert enabled["payload"]["replayed"] == 4
    assert sorted(_received_texts(receiver)) == ["m0", "m0", "m1", "m2", "m3"]
    assert len(receiver.requests) == 5  # nothing attempted while held
    assert {entry["attemptLog"][-1]["trigger"] for entry in logs} == {"replay"}
