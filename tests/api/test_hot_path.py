"""The engines' inbound routes are one table: the lean path serves every route in it, and the
OpenAPI schema documents the same declarations.

The application runs in this process so that what reaches FastAPI can be recorded: a declared
route that the lean path stopped matching would still be answered (by FastAPI's documented copy,
or as an unknown route), only slower, so the answer alone could not tell. It runs on PostgreSQL:
a SQLite database stays locked for the rest of the process that served it (one server per
process), and these tests start several.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from support.server import free_port
from wahooks.accounts import Principal
from wahooks.api.hot_path import HotPath
from wahooks.api.inbound import InboundTable
from wahooks.app import create_app, running
from wahooks.config import Settings
from wahooks.engines import absent_routes
from wahooks.engines.routes import InboundRequest, InboundRoute
from wahooks.engines.sandbox.routes import INBOUND_PATH, PRESENCE_PATH, SCAN_PATH
from wahooks.engines.waha import INGEST_PATH
from wahooks.services import Services

ENGINES = ["sandbox", "waha"]
OTHER_ENGINES_PATHS = {"sandbox": [INGEST_PATH], "waha": [SCAN_PATH, INBOUND_PATH, PRESENCE_PATH]}
CONTACT = "14155550123@c.us"


class Recorded:
    """The application with what reached FastAPI (past the lean path) written down."""

    def __init__(self, app: HotPath) -> None:
        self.app = app
        self.fastapi = app.app
        assert isinstance(self.fastapi, FastAPI)
        self.reached: list[tuple[str, str]] = []
        app.app = self._recording

    async def _recording(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.reached.append((scope["method"], scope["path"]))
        await self.fastapi(scope, receive, send)

    @property
    def services(self) -> Services:
        services: Services = self.fastapi.state.services
        return services

    def declared(self) -> list[InboundRoute]:
        return [*self.services.engine.routes(), *absent_routes(self.services.settings.engine)]


def _settings(database: str, engine: str) -> Settings:
    options: dict[str, Any] = {"database": database, "engine": engine}
    if engine == "waha":
        # Nothing listens there: the reconciler logs that WAHA is down and carries on.
        options["waha_url"] = f"http://127.0.0.1:{free_port()}"
    return Settings(**options)


@asynccontextmanager
async def serving(recorded: Recorded) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The application started as `wahooks serve` starts it, a client on it, and the owner's
    token."""
    announced = io.StringIO()
    async with running(recorded.services, announce=announced):
        token = re.search(r"\bwh_[0-9a-f]{48}\b", announced.getvalue())
        assert token is not None
        transport = httpx.ASGITransport(app=recorded.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wahooks") as client:
            yield client, token.group(0)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def _concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", lambda _: str(uuid.uuid4()), path)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_lean_path_answers_every_declared_route(
    engine: str, postgres_schema_url: Callable[[], str]
) -> None:
    recorded = Recorded(create_app(_settings(postgres_schema_url(), engine)))
    declared = recorded.declared()
    assert declared, "an engine without inbound routes would make this test vacuous"

    async def scenario() -> None:
        async with serving(recorded) as (client, _):
            for route in declared:
                response = await client.post(_concrete(route.path), content=b"{}")
                assert response.headers["content-type"] == "application/json", route.path
                assert response.json()["statusCode"] in (401, 404), (route.path, response.text)
            assert recorded.reached == []
            # The recording itself works: a route FastAPI serves is seen.
            assert (await client.get("/api/health")).status_code == 200
            assert recorded.reached == [("GET", "/api/health")]

    run(scenario)


def test_the_sandbox_routes_do_their_work_on_the_lean_path(
    postgres_schema_url: Callable[[], str]
) -> None:
    recorded = Recorded(create_app(_settings(postgres_schema_url(), "sandbox")))

    async def scenario() -> None:
        async with serving(recorded) as (client, token):
            client.headers["Authorization"] = f"Bearer {token}"
            created = await client.post("/api/connections")
            assert created.status_code == 201, created.text
            base = f"/api/connections/{created.json()['id']}/sandbox"
            scanned = await client.post(f"{base}/scan")
            assert scanned.status_code == 201, scanned.text
            assert scanned.json()["status"] == "connected"
            written = await client.post(f"{base}/inbound", json={"from": CONTACT, "body": "Hi"})
            assert written.status_code == 201, written.text
            assert written.json()["id"].startswith(f"false_{CONTACT}_")
            typing = await client.post(f"{base}/presence",
                                       json={"from": CONTACT, "presence": "typing"})
            assert (typing.status_code, typing.json()) == (201, {"success": True})
            assert recorded.reached == [("POST", "/api/connections")]

    run(scenario)


@pytest.mark.parametrize("engine", ENGINES)
def test_openapi_documents_the_engine_routes_from_their_declaration(
    engine: str, postgres_schema_url: Callable[[], str]
) -> None:
    recorded = Recorded(create_app(_settings(postgres_schema_url(), engine)))
    paths = recorded.fastapi.openapi()["paths"]
    for route in recorded.services.engine.routes():
        operation = paths[route.path]["post"]
        assert operation["summary"] == route.summary
        assert operation["tags"] == [route.tag]
        assert str(route.status_code) in operation["responses"]
        names = [parameter["name"] for parameter in operation.get("parameters", [])]
        assert names == re.findall(r"\{([a-z_]+)\}", route.path)
        if route.request_schema is not None:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body == route.request_schema
    for path in OTHER_ENGINES_PATHS[engine]:
        assert path not in paths, "another engine's route is not documented"


class _NoAccounts:
    async def authenticate(self, authorization: str | None) -> Principal:
        raise AssertionError("matching a path authenticates nobody")


def test_a_declared_path_matches_whole_segments_only() -> None:
    async def handler(request: InboundRequest) -> None:
        return None

    table = InboundTable([InboundRoute("/api/things/{thing_id}/poke", "", handler, "t")],
                         _NoAccounts())
    matched = table.match("/api/things/abc%40c.us/poke")
    assert matched is not None and matched[1] == {"thing_id": "abc%40c.us"}
    for path in ("/api/things/a/b/poke", "/api/things//poke", "/api/things/a/poke/",
                 "/api/things/a/pokes", "/x/api/things/a/poke"):
        assert table.match(path) is None, path
