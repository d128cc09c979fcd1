"""GET/POST /api/tokens, DELETE /api/tokens/:id (compat.md 1.1-1.3)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.contract import (
    ISO,
    MALFORMED_IDS,
    RAW_TOKEN,
    TOKEN_CREATED_KEYS,
    TOKEN_KEYS,
    UNKNOWN_ID,
    UUID,
    assert_bad_request,
    assert_error,
    assert_unauthorized,
    assert_validation,
    json_values,
)
from support.server import ServerProcess, wait_until


def create(client: httpx.Client, name: str) -> dict[str, object]:
    response = client.post("/tokens", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def listed(client: httpx.Client) -> dict[str, dict[str, object]]:
    response = client.get("/tokens")
    assert response.status_code == 200, response.text
    return {token["id"]: token for token in response.json()}


def test_the_owners_first_token_is_listed(server: ServerProcess, owner: httpx.Client) -> None:
    assert server.token is not None
    tokens = list(listed(owner).values())
    default = [t for t in tokens if t["name"] == "default"]
    assert len(default) == 1
    token = default[0]
    assert set(token) == TOKEN_KEYS
    assert UUID.match(str(token["id"]))
    assert token["tokenPrefix"] == server.token[:10] + "..."
    assert token["active"] is True
    assert ISO.match(str(token["createdAt"]))
    # lastUsedAt is written off the request path: it shows up shortly after a use.
    used = wait_until(lambda: listed(owner)[str(token["id"])]["lastUsedAt"])
    assert ISO.match(used)


def test_create_returns_the_raw_token_once(owner: httpx.Client) -> None:
    created = create(owner, "ci")
    assert set(created) == TOKEN_CREATED_KEYS
    assert list(created) == ["id", "name", "token", "tokenPrefix", "createdAt"]
    assert UUID.match(str(created["id"]))
    assert created["name"] == "ci"
    raw = str(created["token"])
    assert RAW_TOKEN.match(raw), raw
    assert created["tokenPrefix"] == raw[:10] + "..."
    assert len(str(created["tokenPrefix"])) == 13
    assert ISO.match(str(created["createdAt"]))

    entry = listed(owner)[str(created["id"])]
    assert entry == {
        "id": created["id"], "name": "ci", "tokenPrefix": created["tokenPrefix"],
        "active": True, "lastUsedAt": None, "createdAt": created["createdAt"],
    }
    assert "token" not in entry


def test_a_new_token_authenticates_as_its_account(
    server: ServerProcess, owner: httpx.Client, owner_id: str
) -> None:
    raw = str(create(owner, "second")["token"])
    with server.client(raw) as client:
        me = client.get("/me")
    assert me.status_code == 200
    assert me.json()["id"] == owner_id


def test_two_tokens_differ(owner: httpx.Client) -> None:
    first, second = create(owner, "same"), create(owner, "same")
    assert first["token"] != second["token"]
    assert first["id"] != second["id"]


def test_revoke_answers_success_and_the_token_vanishes(owner: httpx.Client) -> None:
    created = create(owner, "to-revoke")
    response = owner.delete(f"/tokens/{created['id']}")
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert str(created["id"]) not in listed(owner)


def test_a_revoked_token_stops_authenticating_at_once(
    server: ServerProcess, owner: httpx.Client
) -> None:
    created = create(owner, "cached")
    with server.client(str(created["token"])) as client:
        # Used (so an authentication cache would hold it) and then revoked by another token.
        assert client.get("/tokens").status_code == 200
        assert owner.delete(f"/tokens/{created['id']}").status_code == 200
        assert_error(client.get("/tokens"), 401, "Invalid or revoked API token")
        assert_error(client.get("/connections"), 401, "Invalid or revoked API token")


def test_a_token_can_revoke_itself(server: ServerProcess, owner: httpx.Client) -> None:
    created = create(owner, "self")
    with server.client(str(created["token"])) as client:
        response = client.delete(f"/tokens/{created['id']}")
        assert response.json() == {"success": True}
        assert_error(client.get("/me"), 401, "Invalid or revoked API token")
    assert owner.get("/me").status_code == 200


def test_revoke_is_idempotent(owner: httpx.Client) -> None:
    created = create(owner, "twice")
    assert owner.delete(f"/tokens/{created['id']}").json() == {"success": True}
    again = owner.delete(f"/tokens/{created['id']}")
    assert again.status_code == 200
    assert again.json() == {"success": True}


def test_revoking_one_token_leaves_the_others(server: ServerProcess, owner: httpx.Client) -> None:
    keep, drop = create(owner, "keep"), create(owner, "drop")
    owner.delete(f"/tokens/{drop['id']}")
    with server.client(str(keep["token"])) as client:
        assert client.get("/me").status_code == 200
    assert listed(owner)[str(keep["id"])]["active"] is True


@pytest.mark.parametrize("token_id", [UNKNOWN_ID, *MALFORMED_IDS])
def test_revoke_unknown_token_is_404(owner: httpx.Client, token_id: str) -> None:
    assert_error(owner.delete(f"/tokens/{token_id}"), 404, "Token not found")


def test_a_path_escaping_token_id_is_404(owner: httpx.Client) -> None:
    assert_error(owner.delete("/tokens/..%2Fconnections"), 404)
    assert_error(owner.delete("/tokens/%2e%2e"), 404, "Token not found")


def test_accounts_are_isolated(
    server: ServerProcess, owner: httpx.Client, bob: httpx.Client, bob_token: str
) -> None:
    owners = create(owner, "owner-only")
    bobs = create(bob, "bob-only")
    bob_list, owner_list = listed(bob), listed(owner)
    assert str(owners["id"]) not in bob_list
    assert str(bobs["id"]) not in owner_list
    assert not set(bob_list) & set(owner_list)
    assert {t["name"] for t in bob_list.values()} <= {"default", "bob-only"}
    assert [t["tokenPrefix"] for t in bob_list.values() if t["name"] == "default"] == [
        bob_token[:10] + "..."
    ]


def test_another_account_cannot_revoke_a_token(server: ServerProcess, owner: httpx.Client,
                                               bob: httpx.Client) -> None:
    created = create(owner, "bob-wants-it")
    assert_error(bob.delete(f"/tokens/{created['id']}"), 403, "You do not own this token")
    assert listed(owner)[str(created["id"])]["active"] is True
    with server.client(str(created["token"])) as client:
        assert client.get("/me").status_code == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"name": None}, {"name": ""}, {"name": "   "}, {"name": 5}, {"name": ["a"]},
     {"name": {"first": "a"}}, {"name": True}],
)
def test_create_requires_a_name(owner: httpx.Client, body: dict[str, object]) -> None:
    before = _stable(listed(owner))
    assert_validation(owner.post("/tokens", json=body), "name must be a non-empty string")
    assert _stable(listed(owner)) == before


def _stable(tokens: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """The listing without lastUsedAt: every request touches it in the background, so two
    listings may differ in it whatever the request between them did."""
    return {key: {k: v for k, v in token.items() if k != "lastUsedAt"}
            for key, token in tokens.items()}


def test_create_refuses_an_overlong_name(owner: httpx.Client) -> None:
    response = owner.post("/tokens", json={"name": "x" * 201})
    assert_error(response, 400, ["name must be shorter than or equal to 200 characters"])
    assert create(owner, "x" * 200)["name"] == "x" * 200


def test_create_ignores_unknown_fields(owner: httpx.Client) -> None:
    response = owner.post(
        "/tokens", json={"name": "extra", "active": False, "token": "wh_" + "1" * 48}
    )
    assert response.status_code == 201
    created = response.json()
    assert created["name"] == "extra"
    assert created["token"] != "wh_" + "1" * 48
    assert listed(owner)[created["id"]]["active"] is True


@pytest.mark.parametrize("content", [b"{bad json", b"[1, 2]", b'"name"', b"42", b"\xff\xfe"])
def test_create_with_a_malformed_body_is_400(owner: httpx.Client, content: bytes) -> None:
    response = owner.post("/tokens", content=content, headers={"Content-Type": "application/json"})
    assert_bad_request(response)
    assert isinstance(response.json()["message"], str)


@settings(max_examples=30, deadline=None)
@given(body=json_values(st.just("name")))
def test_create_never_fails_with_500(owner: httpx.Client, body: object) -> None:
    response = owner.post("/tokens", json=body)
    if response.status_code == 201:
        assert isinstance(body, dict) and isinstance(body.get("name"), str)
        assert body["name"].strip() and len(body["name"]) <= 200
        assert response.json()["name"] == body["name"]
    else:
        assert_bad_request(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/tokens"), ("POST", "/tokens"), ("DELETE", f"/tokens/{UNKNOWN_ID}")],
)
def test_token_routes_require_auth(server: ServerProcess, method: str, path: str) -> None:
    assert_unauthorized(server.base_url + "/api", method, path)
