"""The SDK, sync and async, against a real `wahooks serve`: the official client's conformance
checks (sdks/python/test_sdk.py) and every route this server implements."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import Iterator

import pytest

from support.receiver import Receiver
from support.server import ServerProcess, free_port, wait_until
from wahooks import AsyncWAHooks, WAHooks, WAHooksError, verify_signature

UNKNOWN = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[WAHooks]:
    assert server.token is not None
    with WAHooks(server.token, base_url=server.base_url) as sdk:
        yield sdk


def _scan(server: ServerProcess, connection_id: str) -> None:
    with server.client() as http:
        assert http.post(f"/connections/{connection_id}/sandbox/scan").status_code == 201


def _inbound(server: ServerProcess, connection_id: str, text: str) -> None:
    with server.client() as http:
        answer = http.post(f"/connections/{connection_id}/sandbox/inbound",
                           json={"from": "14155550123@c.us", "body": text})
        assert answer.status_code == 201, answer.text


def test_the_official_conformance_flow(client: WAHooks) -> None:
    assert isinstance(client.list_connections(), list)
    connection = client.create_connection()
    assert connection["status"] in ("pending", "scan_qr")
    assert client.get_connection(connection["id"])["id"] == connection["id"]
    assert any(c["id"] == connection["id"] for c in client.list_connections())

    webhook = client.create_webhook(connection["id"], "https://httpbin.org/post",
                                    events=["message", "message.any"])
    assert isinstance(webhook["signingSecret"], str) and len(webhook["signingSecret"]) == 64
    assert webhook["events"] == ["message", "message.any"]
    assert any(w["id"] == webhook["id"] for w in client.list_webhooks(connection["id"]))
    updated = client.update_webhook(webhook["id"], url="https://httpbin.org/anything")
    assert updated["url"] == "https://httpbin.org/anything"
    assert updated["ordering"] == "none"  # beside the original's fields
    result = client.test_webhook(webhook["id"])
    assert result["success"] is True and isinstance(result["logId"], str)
    logs = client.get_webhook_logs(webhook["id"])
    assert logs[0]["eventType"] == "test" and logs[0]["id"] == result["logId"]
    assert client.delete_webhook(webhook["id"])["success"] is True
    assert not any(w["id"] == webhook["id"] for w in client.list_webhooks(connection["id"]))

    token = client.create_token("test-py-sdk-token")
    assert token["token"].startswith("wh_") and token["name"] == "test-py-sdk-token"
    assert any(t["id"] == token["id"] for t in client.list_tokens())
    assert client.revoke_token(token["id"])["success"] is True
    assert not any(t["id"] == token["id"] for t in client.list_tokens())

    with pytest.raises(WAHooksError) as unknown:
        client.get_connection(UNKNOWN)
    assert unknown.value.status_code == 404
    assert unknown.value.message == "Connection not found"

    assert isinstance(client.delete_connection(connection["id"]), dict)
    assert not any(c["id"] == connection["id"] for c in client.list_connections())


def test_a_bad_or_revoked_token_is_a_401(server: ServerProcess, client: WAHooks) -> None:
    with WAHooks("wh_invalid", base_url=server.base_url) as bad, \
            pytest.raises(WAHooksError) as refused:
        bad.list_connections()
    assert refused.value.status_code == 401
    assert refused.value.body["statusCode"] == 401
    token = client.create_token("short-lived")
    client.revoke_token(token["id"])
    with WAHooks(token["token"], base_url=server.base_url) as revoked, \
            pytest.raises(WAHooksError) as gone:
        revoked.list_tokens()
    assert gone.value.message == "Invalid or revoked API token"


def test_connection_lifecycle_qr_profile_and_chats(server: ServerProcess, client: WAHooks) -> None:
    scannable = client.get_or_create_scannable_connection(virgin_only=True)
    assert scannable["status"] == "scan_qr"
    assert base64.b64decode(scannable["qr"]).startswith(b"\x89PNG")
    qr = client.get_qr(scannable["id"])
    assert qr["mimetype"] == "image/png"
    assert client.get_profile(scannable["id"]) is None  # an empty answer
    _scan(server, scannable["id"])
    assert client.get_qr(scannable["id"]) == {"connected": True}
    profile = client.get_profile(scannable["id"])
    assert profile["id"].endswith("@c.us")
    _inbound(server, scannable["id"], "hello there")
    chats = client.get_chats(scannable["id"], limit=5)
    assert chats[0]["lastMessage"]["body"] == "hello there"
    restarted = client.restart_connection(scannable["id"])
    assert restarted["status"] == "scan_qr"
    assert client.get_me()["name"] == "owner"
    assert client.health() == {"status": "ok"}


def test_log_filters_and_redelivery(server: ServerProcess, client: WAHooks) -> None:
    with Receiver() as receiver:
        connection = client.create_connection()
        webhook = client.create_webhook(connection["id"], receiver.url, ["test"])
        first = client.test_webhook(webhook["id"])["logId"]
        receiver.wait_for(1)
        wait_until(lambda: client.get_webhook_logs(webhook["id"], status="delivered"))
        assert client.get_webhook_logs(webhook["id"], status="failed") == []
        again = client.redeliver(webhook["id"], first)
        assert again == {"success": True, "logId": first, "message": "Redelivery enqueued"}
        requests = receiver.wait_for(2)
        verify_signature(requests[1].body, requests[1].headers, webhook["signingSecret"])
        assert client.redeliver_failed(webhook["id"]) == {"success": True, "count": 0}
        assert len(client.get_webhook_logs(webhook["id"], limit=1)) == 1
        wait_until(lambda: client.get_webhook_log(webhook["id"], first)["status"] == "delivered")
        one = client.get_webhook_log(webhook["id"], first)
        assert [a["trigger"] for a in one["attemptLog"]] == ["test", "manual"]
        assert one["attemptLog"][0]["responseBody"] == "ok"
        assert [log["id"] for log in client.get_webhook_logs(
            webhook["id"], event_type="test", since="2020-01-01", status_class="2xx"
        )] == [first]
        assert client.get_webhook_logs(webhook["id"], status_class="none") == []
        assert client.recover(webhook["id"], "2026-01-01", "2026-01-02") == {
            "success": True, "count": 0
        }
        with pytest.raises(WAHooksError) as refused:
            client.recover(webhook["id"], "2026-01-02", "2026-01-01")
        assert refused.value.status_code == 400
        assert "since must be earlier than until" in str(refused.value)


def test_per_chat_ordering_is_set_on_create_and_update(client: WAHooks) -> None:
    connection = client.create_connection()
    webhook = client.create_webhook(connection["id"], "https://x.example/h", ordering="chat")
    assert webhook["ordering"] == "chat"
    assert client.update_webhook(webhook["id"], ordering="none")["ordering"] == "none"
    with pytest.raises(WAHooksError) as refused:
        client.update_webhook(webhook["id"], ordering="fifo")
    assert refused.value.status_code == 400
    assert "ordering must be one of: none, chat" in str(refused.value)


def test_the_async_twin_against_the_server(server: ServerProcess) -> None:
    assert server.token is not None
    token = server.token

    async def flow() -> None:
        async with AsyncWAHooks(token, base_url=server.base_url) as client:
            connection = await client.create_connection(name="async")
            assert connection["name"] == "async"
            webhook = await client.create_webhook(connection["id"], url="https://x.example/h")
            assert webhook["events"] == ["*"] and webhook["ordering"] == "none"
            ordered = await client.create_webhook(
                connection["id"], url="https://x.example/o", ordering="chat"
            )
            assert ordered["ordering"] == "chat"
            await client.delete_webhook(ordered["id"])
            listed, logs = await asyncio.gather(
                client.list_webhooks(connection["id"]), client.get_webhook_logs(webhook["id"])
            )
            assert [w["id"] for w in listed] == [webhook["id"]] and logs == []
            test = await client.test_webhook(webhook["id"])
            assert (await client.get_webhook_logs(webhook["id"]))[0]["id"] == test["logId"]
            assert await client.get_profile(connection["id"]) is None
            with pytest.raises(WAHooksError) as unknown:
                await client.delete_webhook(UNKNOWN)
            assert unknown.value.status_code == 404
            deleted = await client.delete_connection(connection["id"])
            assert deleted["status"] == "stopped"
        async with AsyncWAHooks("wh_" + "0" * 48, base_url=server.base_url) as bad:
            with pytest.raises(WAHooksError) as refused:
                await bad.list_tokens()
            assert refused.value.status_code == 401

    asyncio.run(flow())


def test_another_accounts_resources_are_forbidden(server: ServerProcess, client: WAHooks) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "wahooks.cli", "user", "create", "--name", "bob",
         "--database", str(server.database)],
        capture_output=True, text=True, timeout=60, env=server.env, check=True,
    )
    connection = client.create_connection()
    with WAHooks(made.stdout.strip(), base_url=server.base_url) as bob:
        with pytest.raises(WAHooksError) as forbidden:
            bob.get_connection(connection["id"])
        assert forbidden.value.status_code == 403
        assert bob.list_connections() == []


def test_a_server_that_is_down_raises_a_transport_error() -> None:
    import httpx

    async def call() -> None:
        async with AsyncWAHooks("wh_x", base_url=f"http://127.0.0.1:{free_port()}") as client:
            await client.list_connections()

    with pytest.raises(httpx.ConnectError):
        asyncio.run(call())


def test_messaging_through_the_sdk(server: ServerProcess, client: WAHooks) -> None:
    connection = client.create_connection()
    _scan(server, connection["id"])
    chat = "14155550123@c.us"
    sent = client.send_message(connection["id"], chat, "Your order shipped", skip_presence=True)
    assert isinstance(sent, dict) and sent["id"]
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    assert client.send_image(connection["id"], chat, data=png, mimetype="image/png",
                             caption="box", skip_presence=True)["id"]
    assert client.send_location(connection["id"], chat, 52.52, 13.405, "Shop",
                                skip_presence=True)["id"]
    assert client.send_contact(connection["id"], chat, "Jane", "+14155550100",
                               skip_presence=True)["id"]
    assert client.mark_read(connection["id"], chat) == {"success": True}
    assert client.start_typing(connection["id"], chat) == {"success": True}
    assert client.stop_typing(connection["id"], chat) == {"success": True}
    assert client.react(connection["id"], chat, sent["id"], "👍") == {"success": True}
    with pytest.raises(WAHooksError) as refused:
        client.send_message(connection["id"], "", "x", skip_presence=True)
    assert refused.value.status_code == 400


def test_health_hold_and_replay_through_both_clients(
    server: ServerProcess, client: WAHooks
) -> None:
    assert server.token is not None
    token = server.token
    with Receiver(statuses=[410]) as receiver:
        connection = client.create_connection()
        _scan(server, connection["id"])
        webhook = client.create_webhook(connection["id"], receiver.url, ["message"])
        _inbound(server, connection["id"], "gone")
        wait_until(lambda: client.get_webhook_health(webhook["id"])["disabledReason"] == "gone")
        _inbound(server, connection["id"], "held")
        held = client.get_webhook_logs(webhook["id"], status="held")
        receiver.statuses = [200]

        async def enable() -> tuple[dict[str, object], dict[str, object]]:
            async with AsyncWAHooks(token, base_url=server.base_url) as twin:
                health = await twin.get_webhook_health(webhook["id"])
                return health, await twin.update_webhook(webhook["id"], active=True)

        health, enabled = asyncio.run(enable())
        receiver.wait_for(3)
        wait_until(lambda: client.get_webhook_health(webhook["id"])["held"] == 0)

    assert len(held) == 2
    assert health["held"] == 2 and health["active"] is False
    assert enabled["active"] is True and enabled["disabledReason"] is None
