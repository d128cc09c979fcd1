"""Every client command of the CLI against a real `wahooks serve`, human and `--json` output,
and the error paths: bad token, unknown ids, nothing to change, server down."""

from __future__ import annotations

import json
import re
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.conftest import Wahooks, parsed, run_cli, run_process
from support.receiver import Receiver
from support.server import ServerProcess, free_port, wait_until

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNKNOWN = "00000000-0000-0000-0000-000000000000"


def _error(result: Any, *fragments: str, output_first: bool = False) -> None:
    """Exit 1 and the red Error panel on stderr, saying `fragments` (and, unless
    `output_first`, nothing on stdout)."""
    assert result.exit_code == 1, result.output
    assert "Error" in result.stderr and (output_first or result.stdout == "")
    flat = " ".join(result.stderr.replace("│", " ").split())
    for fragment in fragments:
        assert fragment in flat, result.stderr


def _scan(server: ServerProcess, connection_id: str) -> None:
    with server.client() as http:
        assert http.post(f"/connections/{connection_id}/sandbox/scan").status_code == 201


def _new_connection(wahooks: Wahooks) -> str:
    connection_id: str = parsed(wahooks("connections", "create", "--json"))["id"]
    return connection_id


def test_login_writes_a_private_config_file(server: ServerProcess, tmp_path: Path) -> None:
    assert server.token is not None
    path = tmp_path / "home" / ".wahooks.json"
    done = run_process(path, "login", "--token", server.token, "--api-url", server.base_url + "/")
    assert done.returncode == 0, done.stderr
    assert "✓ Logged in as owner" in done.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"api_url": server.base_url, "token": server.token}

    path.write_text(json.dumps({"api_url": "x", "token": "old", "refresh_token": "r"}))
    again = run_cli(path, "login", "--token", server.token, "--api-url", server.base_url)
    assert again.exit_code == 0, again.output
    assert json.loads(path.read_text())["refresh_token"] == "r"  # the Go CLI's key survives


def test_login_refuses_a_bad_token_or_an_unreachable_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "wahooks.json"
    _error(run_cli(path, "login", "--token", "wh_" + "0" * 48, "--api-url", server.base_url),
           "The API refused the token: Invalid or revoked API token", "Nothing was saved")
    _error(run_cli(path, "login", "--token", "nope", "--api-url", server.base_url),
           "An API token starts with wh_")
    down = f"http://127.0.0.1:{free_port()}"
    _error(run_cli(path, "login", "--token", "wh_" + "0" * 48, "--api-url", down),
           "API unreachable", "--no-verify")
    assert not path.exists()
    saved = run_cli(path, "login", "--token", "wh_" + "0" * 48, "--api-url", down, "--no-verify")
    assert saved.exit_code == 0 and path.exists()


def test_status_and_config(server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "wahooks.json"
    fresh = run_cli(path, "status")
    assert "API URL: http://localhost:3001" in fresh.stdout and "not authenticated" in fresh.stdout
    _error(run_cli(path, "connections", "list"), "Not logged in", "wahooks login --token")
    _error(run_cli(path, "config", "api-url", "localhost:3001"), "has no scheme")
    assert "✓ Set api-url = " + server.base_url in run_cli(
        path, "config", "api-url", server.base_url + "/"
    ).stdout
    assert parsed(run_cli(path, "status", "--json")) == {
        "apiUrl": server.base_url, "authenticated": False, "config": str(path),
    }
    path.write_text("{not json")
    _error(run_cli(path, "status"), "is not valid JSON")


def test_health(server: ServerProcess, wahooks: Wahooks, tmp_path: Path) -> None:
    healthy = wahooks("health")
    assert healthy.exit_code == 0 and re.search(r"✓ API is healthy \(\d+ms\)", healthy.stdout)
    assert parsed(wahooks("health", "--json")) == {"status": "ok"}
    no_login = run_cli(tmp_path / "none.json", "health", "--api-url", server.base_url)
    assert no_login.exit_code == 0, no_login.output  # no token needed
    assert re.search(r"✓ API is healthy", no_login.stdout)
    down = run_cli(tmp_path / "none.json", "health", "--api-url", f"http://127.0.0.1:{free_port()}")
    _error(down, "API unreachable at http://127.0.0.1:", "Is the server running?")


def test_a_bad_token_and_a_server_that_is_down(server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"api_url": server.base_url, "token": "wh_" + "f" * 48}))
    _error(run_cli(path, "tokens", "list"), "Invalid or revoked API token", "HTTP 401",
           "wahooks login")
    path.write_text(json.dumps({"api_url": f"http://127.0.0.1:{free_port()}", "token": "wh_x"}))
    done = run_process(path, "connections", "list")
    assert done.returncode == 1 and "API unreachable" in done.stderr and done.stdout == ""


def test_connections_list_create_get_and_aliases(wahooks: Wahooks) -> None:
    created = wahooks("connections", "create", "--name", "shop")
    assert created.exit_code == 0, created.output
    match = re.search(r"✓ Created connection (\S+) \(status: scan_qr\)", created.stdout)
    assert match
    connection_id = match.group(1)
    table = wahooks("connections", "list")
    row = next(line for line in table.stdout.splitlines() if connection_id in line)
    assert "│" in row and "scan_qr" in row and re.search(r"\d+ connections?", table.stdout)
    assert wahooks("c", "ls").stdout == table.stdout
    assert wahooks("conn", "list", "--json").stdout == wahooks("connections", "ls", "--json").stdout
    listed = parsed(wahooks("connections", "list", "--json"))
    assert any(c["id"] == connection_id and c["name"] == "shop" for c in listed)
    shown = wahooks("connections", "get", connection_id)
    assert re.match(r"\d+ms HTTP 200", shown.stderr)  # timings on stderr: stdout is the data
    assert json.loads(shown.stdout)["id"] == connection_id  # so `connections get ID | jq` works
    assert parsed(wahooks("c", "get", connection_id, "--json"))["name"] == "shop"
    _error(wahooks("connections", "get", UNKNOWN), "Connection not found", "HTTP 404")
    _error(wahooks("connections", "get", "not-an-id"), "Connection not found")


def test_qr_saves_the_png_and_polls_until_scanned(
    server: ServerProcess, wahooks: Wahooks, tmp_path: Path
) -> None:
    connection_id = _new_connection(wahooks)
    png = tmp_path / "qr.png"
    shown = wahooks("connections", "qr", connection_id, "--out", str(png))
    assert shown.exit_code == 0, shown.output
    # The server sends the QR's text (format=raw): drawn in the terminal, no file needed.
    assert "█" in shown.stdout and "Scan the QR code" in shown.stdout
    assert not png.exists()
    answer = parsed(wahooks("connections", "qr", connection_id, "--json"))
    assert answer["mimetype"] == "image/png"

    scanner = threading.Timer(0.5, _scan, (server, connection_id))
    scanner.start()
    polled = wahooks("connections", "qr", connection_id, "--poll", "--interval", "0.2",
                     "--out", str(png))
    scanner.join()
    assert polled.exit_code == 0, polled.output
    assert re.search(r"✓ Connected as \+1555\d{7}!", polled.stdout)
    assert "✓ Already connected!" in wahooks("connections", "qr", connection_id).stdout
    _error(wahooks("connections", "qr", UNKNOWN), "Connection not found")

    waiting = _new_connection(wahooks)
    timed_out = wahooks("c", "qr", waiting, "--poll", "--interval", "0.1", "--timeout", "0.3",
                        "--out", str(png))
    _error(timed_out, "No phone scanned the QR code within 0.3 s", output_first=True)


def test_quick_me_chats_restart_and_delete(server: ServerProcess, wahooks: Wahooks) -> None:
    quick = wahooks("connections", "quick")
    assert quick.exit_code == 0, quick.output
    connection_id = re.search(r"✓ Connection (\S+) \(status: scan_qr\)", quick.stdout).group(1)
    assert "█" in quick.stdout and "Scan the QR code" in quick.stdout
    assert parsed(wahooks("c", "q", "--json"))["id"] == connection_id  # reused, still waiting

    assert "Not linked to a WhatsApp account yet" in wahooks("c", "me", connection_id).stdout
    assert parsed(wahooks("c", "me", connection_id, "--json")) is None
    _scan(server, connection_id)
    assert parsed(wahooks("c", "me", connection_id, "--json"))["id"].endswith("@c.us")
    assert "HTTP 200" in wahooks("c", "me", connection_id).stderr

    assert "No chats yet" in wahooks("c", "chats", connection_id).stdout
    with server.client() as http:
        http.post(f"/connections/{connection_id}/sandbox/inbound",
                  json={"from": "14155550123@c.us", "body": "Is my order ready?"})
    chats = wahooks("connections", "chats", connection_id)
    assert "• 14155550123@c.us — Is my order ready?" in chats.stdout
    assert "1 chat" in chats.stdout
    assert parsed(wahooks("c", "chats", connection_id, "--json"))[0]["id"] == "14155550123@c.us"

    restarted = wahooks("connections", "restart", connection_id)
    assert f"✓ Restarted connection {connection_id} (status: scan_qr)" in restarted.stdout
    assert parsed(wahooks("c", "restart", connection_id, "--json"))["status"] == "scan_qr"
    assert "✓ Connection deleted" in wahooks("connections", "delete", connection_id).stdout
    assert parsed(wahooks("c", "rm", connection_id, "--json"))["status"] == "stopped"
    _error(wahooks("connections", "delete", UNKNOWN), "Connection not found", "HTTP 404")
    _error(wahooks("connections", "restart", UNKNOWN), "Connection not found")


def test_webhooks_from_creation_to_logs(server: ServerProcess, wahooks: Wahooks) -> None:
    connection_id = _new_connection(wahooks)
    assert "No webhooks yet" in wahooks("webhooks", "list", connection_id).stdout
    with Receiver() as receiver:
        created = wahooks("webhooks", "create", connection_id, receiver.url, "test,message")
        assert created.exit_code == 0, created.output
        webhook_id = re.search(r"✓ Created webhook (\S+)", created.stdout).group(1)
        secret = re.search(r"\b([0-9a-f]{64})\b", created.stdout).group(1)
        listed = wahooks("wh", "ls", connection_id)
        row = next(line for line in listed.stdout.splitlines() if webhook_id in line)
        assert "true" in row and receiver.url in row and "test,message" in row
        hooks = parsed(wahooks("webhooks", "list", connection_id, "--json"))
        assert hooks[0]["signingSecret"] == secret

        tested = wahooks("webhooks", "test", webhook_id)
        log_id = re.search(r"✓ Test event enqueued \(log: (\S+)\)", tested.stdout).group(1)
        receiver.wait_for(1)
        with httpx.Client() as http:  # the webhook answers for real
            assert http.get(receiver.url).status_code == 200
        wait_until(lambda: "delivered" in wahooks("w", "logs", webhook_id).stdout)
        logs = wahooks("webhooks", "logs", webhook_id, "-v")
        row = next(line for line in logs.stdout.splitlines() if line.startswith("│ " + log_id))
        assert "test" in row and "delivered" in row and "1 log" in logs.stdout
        assert "This is a test webhook event from WAHooks" in logs.stdout  # -v: the payload
        entries = parsed(wahooks("webhooks", "logs", webhook_id, "--json", "--status",
                                 "delivered", "--limit", "5"))
        assert [entry["id"] for entry in entries] == [log_id]
        assert parsed(wahooks("wh", "logs", webhook_id, "--json", "--status", "failed")) == []

        again = wahooks("webhooks", "redeliver", webhook_id, log_id)
        assert f"✓ Redelivery enqueued (log: {log_id})" in again.stdout
        receiver.wait_for(2)
        assert "✓ 0 failed deliveries enqueued again" in wahooks(
            "webhooks", "redeliver", webhook_id).stdout

    updated = parsed(wahooks("webhooks", "update", webhook_id, "--active=false",
                             "--events", "message, message.any", "--json"))
    assert updated["active"] is False and updated["events"] == ["message", "message.any"]
    human = wahooks("webhooks", "update", webhook_id, "--active", "true")
    assert f"✓ Updated webhook {webhook_id}" in human.stderr and '"active": true' in human.stdout
    assert "signingSecret" not in human.stdout and "signingSecret" not in updated  # not asked
    shown = parsed(wahooks("webhooks", "update", webhook_id, "--active", "true", "--show-secret",
                           "--json"))
    assert shown["signingSecret"] == secret  # asked for
    ordered = parsed(wahooks("webhooks", "update", webhook_id, "--ordering", "chat", "--json"))
    assert ordered["ordering"] == "chat"
    row = next(line for line in wahooks("wh", "ls", connection_id).stdout.splitlines()
               if webhook_id in line)
    assert "chat" in row
    refused = wahooks("webhooks", "update", webhook_id, "--ordering", "fifo")
    assert refused.exit_code == 2 and "'fifo' is not one of 'none', 'chat'" in refused.output
    _error(wahooks("webhooks", "update", webhook_id), "Nothing to change")
    _error(wahooks("webhooks", "update", webhook_id, "--url", "ftp://x"),
           "must use http or https, not 'ftp'")
    _error(wahooks("webhooks", "update", webhook_id, "--url", "http://-x-/"),
           "url must be a URL address", "HTTP 400")  # what only the server checks
    assert "✓ Webhook deleted" in wahooks("webhooks", "delete", webhook_id).stdout
    _error(wahooks("webhooks", "rm", webhook_id), "Webhook config not found", "HTTP 404")
    _error(wahooks("webhooks", "test", UNKNOWN), "Webhook config not found")
    _error(wahooks("webhooks", "logs", UNKNOWN), "Webhook config not found")
    _error(wahooks("webhooks", "create", UNKNOWN, "https://x.example/h"), "Connection not found")


def test_webhook_json_outputs(wahooks: Wahooks) -> None:
    connection_id = _new_connection(wahooks)
    created = parsed(wahooks("webhooks", "create", connection_id, "https://x.example/h",
                             "--json"))
    assert created["events"] == ["*"] and len(created["signingSecret"]) == 64
    tested = parsed(wahooks("webhooks", "test", created["id"], "--json"))
    assert tested["success"] is True
    assert parsed(wahooks("webhooks", "delete", created["id"], "--json")) == {"success": True}


def test_tokens(server: ServerProcess, wahooks: Wahooks, tmp_path: Path) -> None:
    created = wahooks("tokens", "create", "ci")
    assert created.exit_code == 0, created.output
    raw = re.search(r"\b(wh_[0-9a-f]{48})\b", created.stdout).group(1)
    assert "✓ Created API token: ci" in created.stdout and "won't be shown again" in created.stdout
    listed = wahooks("t", "ls")
    row = next(line for line in listed.stdout.splitlines() if raw[:10] + "..." in line)
    token_id = UUID.search(row).group(0)
    assert "ci" in row and "never" in row
    assert any(t["id"] == token_id for t in parsed(wahooks("tokens", "list", "--json")))

    as_ci = tmp_path / "ci.json"
    as_ci.write_text(json.dumps({"api_url": server.base_url, "token": raw}))
    assert run_cli(as_ci, "tokens", "list").exit_code == 0
    assert "✓ Token revoked" in wahooks("tokens", "revoke", token_id).stdout
    assert parsed(wahooks("t", "rm", token_id, "--json")) == {"success": True}  # idempotent
    _error(run_cli(as_ci, "tokens", "list"), "Invalid or revoked API token", "HTTP 401")
    _error(wahooks("tokens", "delete", UNKNOWN), "Token not found", "HTTP 404")
    made = parsed(wahooks("tokens", "create", "json", "--json"))
    assert made["token"].startswith("wh_")


def test_help_shows_the_aliases(wahooks: Wahooks) -> None:
    root = wahooks("--help").stdout
    for label in ("connections (conn, c)", "webhooks (wh, w)", "tokens (t)", "listen", "serve"):
        assert label in root
    assert "delete (rm)" in wahooks("c", "--help").stdout
    assert "revoke (rm, delete)" in wahooks("t", "--help").stdout


def test_a_server_going_down_mid_session(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    path = tmp_path / "wahooks.json"
    assert run_cli(path, "login", "--token", server.token, "--api-url", server.base_url).exit_code == 0
    assert run_cli(path, "connections", "list").exit_code == 0
    server.stop()
    time.sleep(0.1)
    _error(run_cli(path, "connections", "list"), "API unreachable at " + server.base_url)


@pytest.mark.parametrize("args", [["connections", "create", "--name"], ["webhooks", "create"]])
def test_usage_errors_exit_2(wahooks: Wahooks, args: list[str]) -> None:
    assert wahooks(*args).exit_code == 2


def test_sending_through_the_real_server(server: ServerProcess, wahooks: Wahooks) -> None:
    connection_id = _new_connection(wahooks)
    _scan(server, connection_id)
    sent = wahooks("connections", "send", connection_id, "+14155550123", "Hi!", "--skip-presence")
    assert "✓ Message sent to +14155550123" in sent.stdout
    answer = parsed(wahooks("c", "send-location", connection_id, "14155550123", "1.5", "2.5",
                            "--skip-presence", "--json"))
    assert answer["id"]


@pytest.mark.parametrize(
    ("url", "events", "says"),
    [
        ("localhost:3000/webhook", "*", "has no scheme"),
        ("example.com", "*", "has no scheme"),
        ("ftp://example.com/hook", "*", "must use http or https, not 'ftp'"),
        ("http://example.com:99999/hook", "*", "has an invalid port"),
        ("http:///hook", "*", "has no host"),
        ("http://localhost:3000/webhook", ",,", "No event names in ',,'"),
        ("http://localhost:3000/webhook", " , ", "No event names"),
    ],
)
def test_webhook_create_says_what_is_wrong(
    wahooks: Wahooks, url: str, events: str, says: str
) -> None:
    _error(wahooks("webhooks", "create", UNKNOWN, url, events), says)


def test_help_lists_event_names_and_every_setting(wahooks: Wahooks) -> None:
    create_help = wahooks("webhooks", "create", "--help").stdout
    assert "message.any" in create_help and "session.status" in create_help
    serve_help = " ".join(wahooks("serve", "--help").stdout.split())
    from wahooks.config import Settings

    for field in Settings.model_fields:
        assert f"WAHOOKS_{field.upper()}" in serve_help
    summary = next(line for line in wahooks("--help").stdout.splitlines()
                   if line.strip().startswith("serve"))
    assert "..." not in summary


def test_cli_event_names_are_the_servers() -> None:
    from wahooks.cli.sandbox_commands import PRESENCES as CLI_PRESENCES
    from wahooks.cli.webhook_commands import EVENT_NAMES as CLI_EVENT_NAMES
    from wahooks.engines.sandbox import PRESENCES
    from wahooks.schemas import EVENT_NAMES

    assert CLI_EVENT_NAMES == EVENT_NAMES
    assert CLI_PRESENCES == PRESENCES


def test_the_api_url_as_the_banner_prints_it_or_without_a_scheme(
    server: ServerProcess, tmp_path: Path
) -> None:
    assert server.token is not None
    path = tmp_path / "wahooks.json"
    done = run_cli(path, "login", "--token", server.token, "--api-url", server.base_url + "/api")
    assert done.exit_code == 0, done.output
    assert json.loads(path.read_text())["api_url"] == server.base_url  # the SDK adds /api
    assert run_cli(path, "health", "--api-url", server.base_url + "/api/").exit_code == 0
    bare = server.base_url.removeprefix("http://")
    _error(run_cli(path, "login", "--token", server.token, "--api-url", bare),
           f"The API URL '{bare}' has no scheme", "http://")
    _error(run_cli(path, "connections", "list", "--api-url", bare), "has no scheme")


def test_sandbox_commands_drive_the_quick_start(server: ServerProcess, wahooks: Wahooks) -> None:
    connection_id = _new_connection(wahooks)
    scanned = wahooks("sandbox", "scan", connection_id)
    assert scanned.exit_code == 0, scanned.output
    assert "✓ Connected as +" in scanned.stdout
    with Receiver() as receiver:
        made = parsed(wahooks("webhooks", "create", connection_id, receiver.url,
                              "message,presence.update", "--ordering", "chat", "--json"))
        said = wahooks("sandbox", "inbound", connection_id, "+1 415 555 0123", "Hello!")
        assert said.exit_code == 0, said.output
        assert "received from 14155550123@c.us" in said.stdout
        assert parsed(wahooks("sandbox", "presence", connection_id, "14155550123", "typing",
                              "--json")) == {"success": True}
        bodies = [json.loads(got.body) for got in receiver.wait_for(2)]
    assert sorted(body["event"] for body in bodies) == ["message", "presence.update"]
    assert any(body["payload"].get("body") == "Hello!" for body in bodies)
    _error(wahooks("sandbox", "scan", UNKNOWN), "Connection not found", "HTTP 404")
    assert made["events"] == ["message", "presence.update"] and made["ordering"] == "chat"


def test_errors_off_a_terminal_are_never_cut(tmp_path: Path) -> None:
    long_host = "h" + "-very-long-label" * 3 + ".example"
    url = f"{long_host}:3001/{'segment/' * 40}"
    done = run_process(tmp_path / "wahooks.json", "connections", "list", "--api-url", url)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: ")
    assert url in done.stderr  # whole, on one line, whatever the width


def test_logs_verbose_shows_when_a_pending_delivery_is_next_attempted(wahooks: Wahooks) -> None:
    connection_id = _new_connection(wahooks)
    with socket.socket() as closed:  # bound, never listening: every attempt is refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/webhook"
        webhook_id = parsed(wahooks("webhooks", "create", connection_id, url, "test", "--json"))["id"]
        wahooks("webhooks", "test", webhook_id)
        # The retry schedule (5, 10, 20, 40, 80 s) keeps it pending long after its first failure.
        wait_until(lambda: [
            log for log in parsed(wahooks("webhooks", "logs", webhook_id, "--json"))
            if log["status"] == "pending" and log["attempts"] >= 1
        ])
        shown = wahooks("webhooks", "logs", webhook_id, "-v").stdout
    assert re.search(r"└─ next attempt at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", shown), shown
