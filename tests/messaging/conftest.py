"""Each messaging test runs twice: on the sandbox, and on the WAHA engine driving a fake WAHA (which
checks every request against WAHA's OpenAPI document)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.conftest import create_account
from support.receiver import Receiver
from support.server import ServerProcess, wait_until
from waha.conftest import WAHA_ENV
from waha.fake import FakeWaha
from waha.spec import WahaSpec

CONTACT = "14155550123@c.us"


@dataclass
class Backend:
    """One engine under test: its server, and how a phone links and a contact writes."""

    name: str
    server: ServerProcess
    fake: FakeWaha | None

    def link(self, client: httpx.Client) -> dict[str, Any]:
        created = client.post("/connections")
        assert created.status_code == 201, created.text
        connection: dict[str, Any] = created.json()
        if self.fake is None:
            assert client.post(f"/connections/{connection['id']}/sandbox/scan").status_code == 201
        else:
            fake = self.fake
            wait_until(lambda: fake.session(connection["sessionName"]).status == "SCAN_QR_CODE")
            fake.scan(connection["sessionName"])
        wait_until(lambda: client.get(f"/connections/{connection['id']}").json()["status"]
                   == "connected")
        return connection

    def inbound(self, client: httpx.Client, connection: dict[str, Any], text: str,
                sender: str = CONTACT) -> str:
        """A contact writes to the account; the message's id."""
        if self.fake is None:
            made = client.post(f"/connections/{connection['id']}/sandbox/inbound",
                               json={"from": sender, "body": text})
            assert made.status_code == 201, made.text
            return str(made.json()["id"])
        sent = self.fake.inbound(connection["sessionName"], sender, text)
        return str(json.loads(sent)["payload"]["id"])


@pytest.fixture(scope="module", params=["sandbox", "waha"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    database = tmp_path_factory.mktemp(request.param) / "wahooks.db"
    if request.param == "sandbox":
        server = ServerProcess(database).start()
        yield Backend("sandbox", server, None)
        server.stop()
        return
    with FakeWaha(WahaSpec()) as fake:
        env = {f"WAHOOKS_{key.upper()}": value for key, value in WAHA_ENV.items()}
        env.update(WAHOOKS_WAHA_URL=fake.url, WAHOOKS_WAHA_API_KEY=fake.api_key)
        server = ServerProcess(database, env=env).start()
        try:
            yield Backend("waha", server, fake)
        finally:
            server.stop()
        assert fake.violations == []


@pytest.fixture(scope="module")
def client(backend: Backend) -> Iterator[httpx.Client]:
    with backend.server.client() as client:
        yield client


@pytest.fixture(scope="module")
def stranger(backend: Backend) -> Iterator[httpx.Client]:
    """Another account on the same server."""
    with backend.server.client(create_account(backend.server, "stranger")) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def connection(backend: Backend, client: httpx.Client) -> dict[str, Any]:
    """A linked connection of the owner's, shared by the module's tests."""
    return backend.link(client)
