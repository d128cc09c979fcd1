"""Fixtures of the API tests: a second, isolated account next to the owner's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest

from api.contract import RAW_TOKEN
from support.server import ServerProcess


def create_account(server: ServerProcess, name: str) -> str:
    """A new account made with the operator CLI (it writes the running server's database)."""
    done = subprocess.run(
        [sys.executable, "-m", "wahooks.cli", "user", "create", "--name", name,
         "--database", str(server.database)],
        check=False, capture_output=True, text=True, timeout=60, env=server.env,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert RAW_TOKEN.match(token), done.stdout
    return token


@pytest.fixture(scope="module")
def owner(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def owner_id(owner: httpx.Client) -> str:
    me = owner.get("/me")
    assert me.status_code == 200, me.text
    return str(me.json()["id"])


@pytest.fixture(scope="module")
def bob_token(server: ServerProcess) -> str:
    return create_account(server, "bob")


@pytest.fixture(scope="module")
def new_account(server: ServerProcess) -> Iterator[Callable[[str], httpx.Client]]:
    """Make a fresh account (for tests that need one with no history) and a client for it."""
    clients: list[httpx.Client] = []

    def make(name: str) -> httpx.Client:
        clients.append(server.client(create_account(server, name)))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def bob(server: ServerProcess, bob_token: str) -> Iterator[httpx.Client]:
    with server.client(bob_token) as client:
        yield client
