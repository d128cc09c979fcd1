"""Outgrowing SQLite: `wahooks db copy` moves a whole installation to PostgreSQL, and the same
tokens, connections, webhooks and logs are there when the server restarts on it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from support.receiver import Receiver
from support.server import ServerProcess, connected_connection, wait_until


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wahooks.cli", *args], capture_output=True, text=True, check=False
    )


def test_copy_a_sqlite_installation_to_postgres(
    start_server: Callable[..., ServerProcess],
    postgres_schema_url: Callable[[], str],
    tmp_path: Path,
) -> None:
    database = tmp_path / "old.db"
    sqlite_server = start_server(database, retry_schedule="")
    with Receiver(statuses=[200, 500]) as receiver, Receiver(statuses=[410]) as gone, \
            sqlite_server.client() as client:
        connection = connected_connection(client)
        webhook = client.post(
            f"/connections/{connection['id']}/webhooks",
            json={"url": receiver.url, "events": ["message"]},
        ).json()
        # A second webhook whose endpoint is gone: disabled, and holding the second event.
        disabled = client.post(
            f"/connections/{connection['id']}/webhooks",
            json={"url": gone.url, "events": ["message"]},
        ).json()
        for text in ("kept", "dead letter"):
            client.post(f"/connections/{connection['id']}/sandbox/inbound",
                        json={"from": "14155550123@c.us", "body": text})
        wait_until(lambda: {log["status"] for log in client.get(
            f"/webhooks/{webhook['id']}/logs").json()} == {"delivered", "failed"})
        before = client.get(f"/webhooks/{webhook['id']}/logs").json()
        health_before = wait_until(lambda: (
            found := client.get(f"/webhooks/{disabled['id']}/health").json()
        )["held"] == 2 and found)
    bob = _cli("user", "create", "--name", "bob", "--database", str(database)).stdout.strip()
    sqlite_server.stop()

    url = postgres_schema_url()
    copied = _cli("db", "copy", "--from", str(database), "--to", url)
    assert copied.returncode == 0, copied.stderr
    assert "deliveries" in copied.stderr

    postgres_server = start_server(url)
    assert postgres_server.token is None  # the owner came along; none was made anew
    with postgres_server.client(sqlite_server.token) as client:
        assert client.get(f"/connections/{connection['id']}").json()["status"] == "connected"
        moved = {w["id"]: w for w in client.get(f"/connections/{connection['id']}/webhooks").json()}
        assert moved[webhook["id"]]["signingSecret"] == webhook["signingSecret"]
        assert moved[disabled["id"]]["disabledReason"] == "gone"
        assert health_before["held"] == 2
        assert client.get(f"/webhooks/{disabled['id']}/health").json() == health_before
        assert client.get(f"/webhooks/{webhook['id']}/logs").json() == before
        failed = [log for log in before if log["status"] == "failed"]
        again = client.post(f"/webhooks/{webhook['id']}/logs/{failed[0]['id']}/redeliver")
        assert again.status_code == 201
    with postgres_server.client(bob) as client:
        assert client.get("/me").json()["name"] == "bob"
        assert client.get("/connections").json() == []

    again = _cli("db", "copy", "--from", str(database), "--to", url)
    assert again.returncode == 1 and "empty" in again.stderr


def test_copying_from_a_missing_file_says_so(
    postgres_schema_url: Callable[[], str], tmp_path: Path
) -> None:
    missing = tmp_path / "nothing-here.db"
    copied = _cli("db", "copy", "--from", str(missing), "--to", postgres_schema_url())
    assert copied.returncode == 1 and "No SQLite database at" in copied.stderr
    assert not missing.exists()
