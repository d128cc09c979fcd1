"""Fixtures shared by every test suite."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.server import ServerProcess


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The `shared` folder beside the repository, with fixtures described by its READMEs."""
    return Path(__file__).parents[1] / ".." / "shared"


@pytest.fixture(autouse=True)
def _no_wahooks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from WAHOOKS_* variables: a developer's own must not leak into tests."""
    for key in list(os.environ):
        if key.startswith("WAHOOKS_"):
            monkeypatch.delenv(key)


POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_schema_url() -> Iterator[Callable[[], str]]:
    """URLs of fresh PostgreSQL schemas in the test database (the real server CI runs); every
    schema made is dropped after the test."""
    made: list[str] = []

    def make() -> str:
        schema = f"wahooks_test_{uuid.uuid4().hex[:12]}"
        made.append(schema)
        return f"{POSTGRES_URL}?schema={schema}"

    yield make
    if made:
        asyncio.run(_drop_schemas(made))


async def _drop_schemas(schemas: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real `wahooks serve` per test module, on its own SQLite file."""
    process = ServerProcess(tmp_path_factory.mktemp("server") / "wahooks.db").start()
    yield process
    process.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers with their own settings (e.g. a short retry schedule); all stopped after."""
    started: list[ServerProcess] = []

    def start(database: Path | None = None, **env: str) -> ServerProcess:
        process = ServerProcess(
            database or tmp_path / f"wahooks{len(started)}.db",
            env={f"WAHOOKS_{key.upper()}": value for key, value in env.items()},
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
