"""The OpenAPI document describes the API as it answers: every body, every error, the token.

The route table is walked in-process (which routes read a JSON body, which ask for a token: their
dependencies say so); the document checked is the one a running server serves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from support.server import ServerProcess
from wahooks.api.deps import json_object, principal_of
from wahooks.api.hot_path import HotPath
from wahooks.api.openapi import api_routes
from wahooks.app import create_app
from wahooks.config import Settings

UNAUTHENTICATED = {("get", "/api"), ("get", "/api/health")}


@pytest.fixture(scope="module")
def document(server: ServerProcess) -> dict[str, Any]:
    response = httpx.get(server.base_url + "/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    database = Path(tmp_path_factory.mktemp("openapi")) / "wahooks.db"
    asgi = create_app(Settings(database=str(database)))
    assert isinstance(asgi, HotPath) and isinstance(asgi.app, FastAPI)
    return asgi.app


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _documented(app: FastAPI) -> list[APIRoute]:
    return [route for route in api_routes(app.routes) if route.include_in_schema]


def _depends_on(dependant: Any, call: Any) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def test_no_operation_documents_the_422_it_never_answers(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        assert "422" not in operation["responses"], (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_route_that_reads_a_body_documents_it(
    app: FastAPI, document: dict[str, Any]
) -> None:
    checked = 0
    for route in _documented(app):
        for method in route.methods:
            operation = document["paths"][route.path_format][method.lower()]
            declared = operation.get("requestBody")
            reads = _depends_on(route.dependant, json_object)
            if route.tags == ["sandbox"] or route.tags == ["engine"]:
                # The engines' routes read their bodies themselves; their declarations say so.
                reads = declared is not None
            if not reads:
                assert declared is None, (method, route.path)
                continue
            checked += 1
            schema = declared["content"]["application/json"]["schema"]
            assert schema["type"] == "object", (method, route.path)
            assert schema.get("properties"), (method, route.path)
            for status in ("400", "413"):
                assert status in operation["responses"], (method, route.path, status)
    # tokens, connections (3), webhooks (2), messaging (11), sandbox (2)
    assert checked >= 19


def test_every_authenticated_route_names_the_bearer_token(
    app: FastAPI, document: dict[str, Any]
) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    for route in _documented(app):
        for method in route.methods:
            operation = document["paths"][route.path_format][method.lower()]
            if (method.lower(), route.path_format) in UNAUTHENTICATED:
                assert "security" not in operation and "401" not in operation["responses"]
                continue
            if route.tags == ["engine"]:
                # WAHA's webhook is checked by its HMAC signature, not by a token: still a 401.
                assert "security" not in operation and "401" in operation["responses"]
                continue
            if route.tags != ["sandbox"]:
                assert _depends_on(route.dependant, principal_of), (method, route.path)
            assert operation["security"] == [{"bearer": []}], (method, route.path)
            for status in ("401", "503"):
                assert status in operation["responses"], (method, route.path, status)
            if "{" in route.path_format:
                for status in ("403", "404"):
                    assert status in operation["responses"], (method, route.path, status)


def test_every_error_answer_has_the_error_body(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["message", "statusCode"]
    assert {"message", "error", "statusCode"} == set(error["properties"])
    errors = 0
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            errors += 1
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert errors > 100


def test_engine_and_conflict_answers_are_documented(document: dict[str, Any]) -> None:
    paths = document["paths"]
    send = paths["/api/connections/{connection_id}/send"]["post"]["responses"]
    assert {"409", "502", "503"} <= set(send)
    redeliver = paths["/api/webhooks/{webhook_id}/logs/{log_id}/redeliver"]["post"]["responses"]
    assert "409" in redeliver
    waha = paths.get("/api/events/waha")
    assert waha is None  # the sandbox server does not serve WAHA's webhook


def test_the_unlinked_profile_is_documented_as_empty_text(document: dict[str, Any]) -> None:
    answer = document["paths"]["/api/connections/{connection_id}/me"]["get"]["responses"]["200"]
    assert answer["content"]["text/plain"]["schema"] == {"type": "string", "maxLength": 0}
    assert "application/json" in answer["content"]
