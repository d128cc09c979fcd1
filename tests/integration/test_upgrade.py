"""Upgrades: a database written by an earlier release (tests/fixtures/upgrade, made by
scripts/upgrade-fixture from that release's own code) is migrated by today's code, and
everything in it still works: its token, its connection, its webhooks and their logs."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from support.receiver import Receiver
from support.server import ServerProcess, wait_until
from wahooks.storage.migrations import migrations_for

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "upgrade").glob("*.sql"))
SCHEMA_PLACEHOLDER = "wahooks_upgrade_fixture"  # scripts/upgrade-fixture dumps this schema


def test_there_is_a_fixture_of_an_earlier_release_for_each_backend() -> None:
    assert {path.stem.split("-")[0] for path in FIXTURES} == {"sqlite", "postgres"}, \
        "scripts/upgrade-fixture makes them"


def _load_sqlite(fixture: Path, database: Path) -> set[int]:
    with sqlite3.connect(database) as conn:
        conn.executescript(fixture.read_text())
        return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def _sqlite_after(database: Path) -> set[int]:
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


async def _postgres(url: str, script: str | None = None) -> set[int]:
    """Run the fixture's script (into the URL's schema), then read the applied versions."""
    dsn, schema = url.split("?schema=")
    conn = await asyncpg.connect(dsn)
    try:
        if script is not None:
            await conn.execute(script.replace(SCHEMA_PLACEHOLDER, schema))
        rows = await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations')
        return {row[0] for row in rows}
    finally:
        await conn.close()


@pytest.mark.parametrize("fixture", FIXTURES, ids=[path.stem for path in FIXTURES])
def test_an_earlier_releases_database_upgrades_cleanly(
    fixture: Path, tmp_path: Path, postgres_schema_url: Callable[[], str]
) -> None:
    token = json.loads(fixture.with_suffix(".json").read_text())["token"]
    backend = fixture.stem.split("-")[0]
    if backend == "sqlite":
        database = str(tmp_path / "wahooks.db")
        old_versions = _load_sqlite(fixture, Path(database))
    else:
        database = postgres_schema_url()
        old_versions = asyncio.run(_postgres(database, fixture.read_text()))
    latest = {migration.version for migration in migrations_for(backend)}
    assert old_versions < latest, "the fixture is already at today's schema: nothing to test"

    migrated = subprocess.run(
        [sys.executable, "-m", "wahooks.cli", "migrate", "--database", database],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "applying migration" in migrated.stderr and "is up to date" in migrated.stderr
    after = (_sqlite_after(Path(database)) if backend == "sqlite"
             else asyncio.run(_postgres(database)))
    assert after == latest

    server = ServerProcess(database).start()
    try:
        assert server.token is None  # the old owner is still the owner
        with server.client(token) as client, Receiver() as receiver:
            (connection,) = client.get("/connections").json()
            assert connection["status"] == "connected"
            hooks = client.get(f"/connections/{connection['id']}/webhooks").json()
            assert len(hooks) == 2
            logs = {hook["id"]: client.get(f"/webhooks/{hook['id']}/logs").json()
                    for hook in hooks}
            statuses = sorted({log["status"] for log in entries} for entries in logs.values())
            assert statuses == [{"delivered"}, {"failed"}]  # the receiver's hook; the dead one
            assert {token["name"] for token in client.get("/tokens").json()} >= {"default", "ci"}
            # Attempts made before request headers were recorded show none, as null.
            old_attempts = [attempt for entries in logs.values() for log in entries
                            for attempt in log["attemptLog"]]
            assert old_attempts and all(a["requestHeaders"] is None for a in old_attempts)
            _dashboard_says_not_recorded(server, token, logs)

            # The old webhooks deliver new events, and an old dead letter can be redelivered.
            failed_hook = next(hook_id for hook_id, entries in logs.items()
                               if entries[0]["status"] == "failed")
            assert len(logs[failed_hook]) == 1
            moved = client.put(f"/webhooks/{failed_hook}", json={"url": receiver.url})
            assert moved.status_code == 200, moved.text
            again = client.post(f"/webhooks/{failed_hook}/redeliver-failed")
            assert again.status_code in (200, 201) and again.json()["count"] == 1
            wait_until(lambda: [log["status"] for log in
                                client.get(f"/webhooks/{failed_hook}/logs").json()]
                       == ["delivered"])
            received = receiver.wait_for(1)[0]
            body = json.loads(received.body)
            assert body["payload"]["body"] == "written by the old release"
            newest = client.get(f"/webhooks/{failed_hook}/logs").json()[0]["attemptLog"][-1]
            assert newest["requestHeaders"] == received.headers
    finally:
        server.stop()


def _dashboard_says_not_recorded(
    server: ServerProcess, token: str, logs: dict[str, list[dict[str, Any]]]
) -> None:
    """The dashboard's delivery page says so, for attempts stored without request headers."""
    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        assert browser.post("/signin", data={"token": token}).status_code == 303
        for hook_id, entries in logs.items():
            page = browser.get(f"/webhooks/{hook_id}/deliveries/{entries[0]['id']}")
            assert page.status_code == 200, page.text
            assert page.text.count('class="muted request-headers-missing"') == len(
                entries[0]["attemptLog"])
            assert 'class="request-headers"' not in page.text
