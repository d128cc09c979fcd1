"""GET /api, /api/health, /api/me, unknown routes, CORS, the OpenAPI document (compat.md 1.1, 1.3)."""

from __future__ import annotations

import httpx
import pytest

from api.contract import ISO, UUID, assert_error, assert_unauthorized
from support.server import ServerProcess


def test_root_answers_ok_without_auth(server: ServerProcess) -> None:
    response = httpx.get(server.base_url + "/api")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


def test_health_answers_without_auth(server: ServerProcess) -> None:
    response = httpx.get(server.base_url + "/api/health")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["status", "timestamp", "checks"]
    assert body["status"] == "ok"
    assert ISO.match(body["timestamp"]), body["timestamp"]
    database, workers = body["checks"]["database"], body["checks"]["workers"]
    assert database["status"] == "ok" and isinstance(database["latency"], int)
    assert "error" not in database
    assert workers["status"] == "ok" and isinstance(workers["latency"], int)
    assert "error" not in workers


def test_health_ignores_a_bad_token(server: ServerProcess) -> None:
    response = httpx.get(server.base_url + "/api/health", headers={"Authorization": "Bearer x"})
    assert response.status_code == 200
    root = httpx.get(server.base_url + "/api", headers={"Authorization": "Bearer x"})
    assert root.json() == {"status": "ok"}


def test_me_describes_the_owner(owner: httpx.Client) -> None:
    response = owner.get("/me")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "email", "name", "isAdmin"}
    assert UUID.match(body["id"])
    assert body["isAdmin"] is True
    assert body["name"] == "owner"


def test_me_describes_another_account(owner: httpx.Client, bob: httpx.Client) -> None:
    body = bob.get("/me").json()
    assert body["isAdmin"] is False
    assert body["name"] == "bob"
    assert body["id"] != owner.get("/me").json()["id"]


def test_me_requires_auth(server: ServerProcess) -> None:
    assert_unauthorized(server.base_url + "/api", "GET", "/me")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/nope"),
        ("POST", "/api/nope"),
        ("GET", "/api/connections/abc/nope"),
        ("GET", "/nothing"),
    ],
)
def test_unknown_route_is_nest_404(server: ServerProcess, method: str, path: str) -> None:
    response = httpx.request(method, server.base_url + path)
    assert_error(response, 404, f"Cannot {method} {path}")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        # A known path with a method it does not have (NestJS answered 404 here).
        ("DELETE", "/api/connections", "GET, POST"),
        ("PATCH", "/api/tokens", "GET, POST"),
        ("GET", "/api/webhooks/" + "0" * 8, "DELETE, PUT"),
        ("PUT", "/api/connections/abc/qr", "GET"),
        # Several routes share this path: Allow names the methods of all of them.
        ("POST", "/api/connections/abc", "DELETE, GET, PATCH"),
        # A fixed path that is also /api/connections/{connection_id}: its own method only.
        ("PATCH", "/api/connections/get-or-create", "POST"),
        # An engine route served in front of FastAPI, with another method.
        ("GET", "/api/connections/abc/sandbox/inbound", "POST"),
    ],
)
def test_known_path_with_another_method_is_405(
    server: ServerProcess, method: str, path: str, allowed: str
) -> None:
    response = httpx.request(method, server.base_url + path)
    assert_error(response, 405, f"Cannot {method} {path}")
    assert response.headers["allow"] == allowed


def test_unknown_route_is_404_with_auth_too(owner: httpx.Client) -> None:
    response = owner.get("/nope")
    assert response.json() == {
        "message": "Cannot GET /api/nope", "error": "Not Found", "statusCode": 404,
    }


def test_cors_allows_every_origin(server: ServerProcess) -> None:
    preflight = httpx.options(
        server.base_url + "/api/connections",
        headers={
            "Origin": "https://dashboard.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    simple = httpx.get(server.base_url + "/api", headers={"Origin": "https://x.example"})
    assert simple.headers["access-control-allow-origin"] == "*"


def test_docs_page_is_served(server: ServerProcess) -> None:
    response = httpx.get(server.base_url + "/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


def test_openapi_lists_every_route(server: ServerProcess) -> None:
    response = httpx.get(server.base_url + "/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api": {"get"},
        "/api/health": {"get"},
        "/api/me": {"get"},
        "/api/tokens": {"get", "post"},
        "/api/tokens/{token_id}": {"delete"},
        "/api/connections": {"get", "post"},
        "/api/connections/get-or-create": {"post"},
        "/api/connections/{connection_id}": {"get", "patch", "delete"},
        "/api/connections/{connection_id}/restart": {"post"},
        "/api/connections/{connection_id}/qr": {"get"},
        "/api/connections/{connection_id}/me": {"get"},
        "/api/connections/{connection_id}/chats": {"get"},
        "/api/connections/{connection_id}/webhooks": {"get", "post"},
        "/api/connections/{connection_id}/sandbox/scan": {"post"},
        "/api/connections/{connection_id}/sandbox/inbound": {"post"},
        "/api/connections/{connection_id}/sandbox/presence": {"post"},
        "/api/webhooks/{webhook_id}": {"put", "delete"},
        "/api/webhooks/{webhook_id}/logs": {"get"},
        "/api/webhooks/{webhook_id}/test": {"post"},
        "/api/webhooks/{webhook_id}/logs/{log_id}/redeliver": {"post"},
        "/api/webhooks/{webhook_id}/redeliver-failed": {"post"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, sorted(paths[path]))
