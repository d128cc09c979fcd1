"""Operator commands as an operator meets them: real `wahooks` processes, real SQLite files and
PostgreSQL schemas. No command but `serve` and `migrate` creates a database; each says which one it
used; failures are one line on stderr (what, where, what to do), never a traceback."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from support.server import ServerProcess


def wahooks(cwd: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("WAHOOKS_")}
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "wahooks.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=clean, check=False)


def one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1, done.stderr
    for fragment in fragments:
        assert fragment in error[0], done.stderr
    return error[0]


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port where nothing listens (bound, never listening: connections are refused), held for
    the test so no other process takes it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_operator_commands_never_create_a_database(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (("token", "create", "--name", "ci"), ("user", "create", "--name", "bob"),
                 ("db", "backup", "copy.db")):
        done = wahooks(elsewhere, *args)
        one_line_error(done, f"No wahooks database at SQLite {elsewhere / 'wahooks.db'}",
                       "--database", "wahooks migrate")
        assert done.stdout == ""
    assert list(elsewhere.iterdir()) == []  # nothing made, not even a lock file

    made = wahooks(elsewhere, "migrate")  # the explicit way
    assert made.returncode == 0, made.stderr
    assert f"SQLite {elsewhere / 'wahooks.db'} is up to date" in made.stderr
    created = wahooks(elsewhere, "token", "create", "--name", "ci")
    assert created.returncode == 0, created.stderr
    assert f"Database: SQLite {elsewhere / 'wahooks.db'}" in created.stderr
    assert created.stdout.startswith("wh_")


def test_operator_commands_use_the_servers_database(server: ServerProcess, tmp_path: Path) -> None:
    done = wahooks(tmp_path, "token", "create", "--name", "ci", "--database", str(server.database))
    assert done.returncode == 0, done.stderr
    assert f"Database: SQLite {server.database}" in done.stderr
    with httpx.Client(base_url=server.base_url) as http:  # the running server takes it
        me = http.get("/api/me", headers={"Authorization": f"Bearer {done.stdout.strip()}"})
    assert me.status_code == 200, me.text


def test_a_duplicate_account_name_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    database = ("--database", str(server.database))
    first = wahooks(tmp_path, "user", "create", "--name", "bob", *database)
    assert first.returncode == 0, first.stderr
    again = wahooks(tmp_path, "user", "create", "--name", "bob", *database)
    one_line_error(again, "An account named 'bob' already exists")
    assert again.stdout == ""


def test_missing_folders_and_databases_are_one_line(
    tmp_path: Path, refused_port: int, postgres_schema_url: Callable[[], str]
) -> None:
    one_line_error(wahooks(tmp_path, "serve", "--database", str(tmp_path / "no" / "x.db")),
                   f"the folder {tmp_path / 'no'} does not exist")
    one_line_error(wahooks(tmp_path, "migrate", "--database", str(tmp_path / "no" / "x.db")),
                   "does not exist")
    unreachable = f"postgresql://postgres@127.0.0.1:{refused_port}/test"
    for args in (("migrate",), ("token", "create", "--name", "x"), ("user", "create", "--name", "x")):
        one_line_error(wahooks(tmp_path, *args, "--database", unreachable),
                       f"Cannot use PostgreSQL postgresql://postgres@127.0.0.1:{refused_port}/test",
                       "Check that PostgreSQL runs there")
    missing_database = "postgresql://postgres@127.0.0.1:5432/wahooks_no_such_database"
    one_line_error(wahooks(tmp_path, "migrate", "--database", missing_database),
                   'database "wahooks_no_such_database" does not exist')
    empty_schema = postgres_schema_url()
    one_line_error(wahooks(tmp_path, "token", "create", "--name", "x", "--database", empty_schema),
                   "No wahooks database in PostgreSQL")
    source = tmp_path / "source.db"
    assert wahooks(tmp_path, "migrate", "--database", str(source)).returncode == 0
    one_line_error(wahooks(tmp_path, "db", "copy", "--from", str(source), "--to", unreachable),
                   "Cannot use PostgreSQL")


def test_serve_waits_for_an_unreachable_database_then_gives_up(
    tmp_path: Path, refused_port: int
) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{refused_port}/test"
    done = wahooks(tmp_path, "serve", "--database", unreachable, "--database-wait", "1")
    one_line_error(done, "Cannot use PostgreSQL", "Gave up after 1 s (--database-wait)")
    assert "database unreachable, retrying" in done.stderr  # logged while it waits


def test_a_shared_port_needs_postgresql(tmp_path: Path) -> None:
    one_line_error(wahooks(tmp_path, "serve", "--reuse-port"),
                   "reuse_port needs PostgreSQL", "served by one process")
    assert list(tmp_path.iterdir()) == []


def test_settings_errors_say_what_to_set(tmp_path: Path) -> None:
    line = one_line_error(wahooks(tmp_path, "serve", env={"WAHOOKS_PORT": "99999"}),
                          "WAHOOKS_PORT (--port)", "65535")
    assert "input_value" not in line and "pydantic" not in line
    one_line_error(wahooks(tmp_path, "serve", env={"WAHOOKS_RETRY_SCHEDULE": "5,soon"}),
                   "WAHOOKS_RETRY_SCHEDULE")
    one_line_error(wahooks(tmp_path, "serve", env={"WAHOOKS_ENGINE": "waha"}),
                   "engine 'waha' needs WAHOOKS_WAHA_URL")
    assert list(tmp_path.iterdir()) == []


def test_a_port_in_use_does_not_cost_the_owner_token(tmp_path: Path) -> None:
    database = tmp_path / "wahooks.db"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = wahooks(tmp_path, "serve", "--port", str(port), "--database", str(database))
    one_line_error(done, f"Port {port} on 127.0.0.1 is already in use", "--port")
    assert "wh_" not in done.stdout + done.stderr
    server = ServerProcess(database).start()  # the next start is the first one
    try:
        assert server.token is not None
        banner = next(line for line in server.output if line.startswith("wahooks "))
        # the URL clients take: `wahooks login --api-url` it as printed
        assert f"API URL {server.base_url} " in banner
    finally:
        server.stop()


def test_backup_while_serving_and_restore(server: ServerProcess, tmp_path: Path) -> None:
    with server.client() as http:
        made = http.post("/tokens", json={"name": "before the backup"})
        assert made.status_code == 201, made.text
    backup = tmp_path / "backup.db"
    done = wahooks(tmp_path, "db", "backup", str(backup), "--database", str(server.database))
    assert done.returncode == 0, done.stderr
    assert f"Backed up to {backup}" in done.stderr
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    with sqlite3.connect(backup) as copy:  # one self-contained file, no -wal needed
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    one_line_error(wahooks(tmp_path, "db", "backup", str(backup), "--database",
                           str(server.database)), "already exists")

    # Restore as docs/operations.md says: the backup in place of the database, then serve.
    restored = tmp_path / "restored" / "wahooks.db"
    restored.parent.mkdir()
    restored.write_bytes(backup.read_bytes())
    again = ServerProcess(restored).start()
    try:
        assert again.token is None  # the owner came back with the data: no new owner
        with httpx.Client(base_url=again.base_url) as http:
            me = http.get("/api/tokens", headers={"Authorization": f"Bearer {server.token}"})
        assert me.status_code == 200, me.text
        assert "before the backup" in {token["name"] for token in me.json()}
    finally:
        again.stop()


def test_postgres_backup_points_to_pg_dump(
    tmp_path: Path, postgres_schema_url: Callable[[], str]
) -> None:
    one_line_error(wahooks(tmp_path, "db", "backup", "x.db", "--database", postgres_schema_url()),
                   "pg_dump")
