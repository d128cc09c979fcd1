"""Connections: list, create, get-or-create, get, rename, delete, restart, qr, me, chats
(compat.md 1.2 Connection, 1.3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.contract import (
    MALFORMED_IDS,
    UNKNOWN_ID,
    UUID,
    assert_bad_request,
    assert_connection,
    assert_error,
    assert_png_base64,
    assert_unauthorized,
    assert_validation,
    json_values,
)
from support.receiver import Receiver
from support.server import ServerProcess, connected_connection

ID_ROUTES = [
    ("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/restart"), ("GET", "/qr"),
    ("GET", "/me"), ("GET", "/chats"),
]


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/connections", json=body) if body else client.post("/connections")
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def listed_ids(client: httpx.Client) -> list[str]:
    response = client.get("/connections")
    assert response.status_code == 200, response.text
    return [connection["id"] for connection in response.json()]


# create ------------------------------------------------------------------------------------------


def test_create_without_a_body_waits_for_a_scan(owner: httpx.Client, owner_id: str) -> None:
    created = create(owner)
    assert_connection(created, status="scan_qr", user_id=owner_id)
    assert created["name"] is None
    assert created["phoneNumber"] is None


def test_create_with_a_name(owner: httpx.Client, owner_id: str) -> None:
    created = create(owner, name="Sales")
    assert_connection(created, status="scan_qr", user_id=owner_id)
    assert created["name"] == "Sales"


def test_create_with_an_empty_object_or_null(owner: httpx.Client) -> None:
    assert owner.post("/connections", json={}).json()["name"] is None
    assert owner.post("/connections", json={"name": None}).json()["name"] is None
    response = owner.post("/connections", content=b"null",
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 201
    assert response.json()["name"] is None


def test_each_connection_has_its_own_session(owner: httpx.Client) -> None:
    first, second = create(owner), create(owner)
    assert first["id"] != second["id"]
    assert first["sessionName"] != second["sessionName"]


@pytest.mark.parametrize("name", [5, True, ["a"], {"a": 1}])
def test_create_refuses_a_name_that_is_not_a_string(owner: httpx.Client, name: object) -> None:
    assert_validation(owner.post("/connections", json={"name": name}),
                      "name must be a non-empty string")


@pytest.mark.parametrize("content", [b"{bad", b"[]", b"1", b'"x"'])
def test_create_refuses_a_malformed_body(owner: httpx.Client, content: bytes) -> None:
    before = listed_ids(owner)
    assert_bad_request(owner.post("/connections", content=content,
                                  headers={"Content-Type": "application/json"}))
    assert listed_ids(owner) == before


@settings(max_examples=25, deadline=None)
@given(body=json_values(st.just("name")))
def test_create_never_fails_with_500(owner: httpx.Client, body: object) -> None:
    response = owner.post("/connections", json=body)
    if response.status_code == 201:
        name = body.get("name") if isinstance(body, dict) else None
        assert response.json()["name"] == name
    else:
        assert_bad_request(response)


# list and get ------------------------------------------------------------------------------------


def test_list_and_get_say_connected_for_a_working_session(
    owner: httpx.Client, owner_id: str
) -> None:
    connection = connected_connection(owner)
    assert_connection(connection, status="connected", user_id=owner_id)
    assert connection["phoneNumber"] is not None
    got = owner.get(f"/connections/{connection['id']}")
    assert got.status_code == 200
    assert got.json() == connection
    listed = {c["id"]: c for c in owner.get("/connections").json()}
    assert listed[connection["id"]] == connection


def test_list_shapes_every_connection(owner: httpx.Client, owner_id: str) -> None:
    create(owner)
    connections = owner.get("/connections").json()
    assert connections
    for connection in connections:
        assert connection["status"] in ("scan_qr", "pending", "connected", "failed")
        assert_connection(connection, status=connection["status"], user_id=owner_id)


def test_get_a_new_connection(owner: httpx.Client) -> None:
    created = create(owner, name="fresh")
    got = owner.get(f"/connections/{created['id']}")
    assert got.status_code == 200
    assert got.json() == created


def test_get_accepts_an_upper_case_id(owner: httpx.Client) -> None:
    created = create(owner)
    got = owner.get(f"/connections/{created['id'].upper()}")
    assert got.status_code == 200
    assert got.json()["id"] == created["id"]


# rename ------------------------------------------------------------------------------------------


def test_rename(owner: httpx.Client, owner_id: str) -> None:
    created = create(owner, name="before")
    response = owner.patch(f"/connections/{created['id']}", json={"name": "after"})
    assert response.status_code == 200
    body = response.json()
    assert_connection(body, status="scan_qr", user_id=owner_id)
    assert body["name"] == "after"
    assert body["createdAt"] == created["createdAt"]
    assert body["updatedAt"] >= created["updatedAt"]
    assert {k: v for k, v in body.items() if k not in ("name", "updatedAt")} == {
        k: v for k, v in created.items() if k not in ("name", "updatedAt")
    }
    assert owner.get(f"/connections/{created['id']}").json()["name"] == "after"


@pytest.mark.parametrize("body", [{"name": None}, {"name": ""}, {}])
def test_rename_to_nothing_clears_the_name(owner: httpx.Client, body: dict[str, Any]) -> None:
    created = create(owner, name="named")
    response = owner.patch(f"/connections/{created['id']}", json=body)
    assert response.status_code == 200
    assert response.json()["name"] is None


def test_rename_keeps_saying_connected(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    body = owner.patch(f"/connections/{connection['id']}", json={"name": "x"}).json()
    assert body["status"] == "connected"


def test_rename_refuses_a_name_that_is_not_a_string(owner: httpx.Client) -> None:
    created = create(owner, name="kept")
    response = owner.patch(f"/connections/{created['id']}", json={"name": 42})
    assert_validation(response, "name must be a non-empty string")
    assert owner.get(f"/connections/{created['id']}").json()["name"] == "kept"


def test_rename_refuses_a_malformed_body(owner: httpx.Client) -> None:
    created = create(owner, name="kept")
    response = owner.patch(f"/connections/{created['id']}", content=b"{oops",
                           headers={"Content-Type": "application/json"})
    assert_bad_request(response)
    assert owner.get(f"/connections/{created['id']}").json()["name"] == "kept"


# delete ------------------------------------------------------------------------------------------


def test_delete_answers_the_stopped_row(owner: httpx.Client, owner_id: str) -> None:
    connection = connected_connection(owner)
    response = owner.delete(f"/connections/{connection['id']}")
    assert response.status_code == 200
    body = response.json()
    assert_connection(body, status="stopped", user_id=owner_id)
    assert body["id"] == connection["id"]
    assert body["sessionName"] == connection["sessionName"]


def test_a_deleted_connection_leaves_the_list_but_can_be_read(owner: httpx.Client) -> None:
    created = create(owner)
    assert created["id"] in listed_ids(owner)
    owner.delete(f"/connections/{created['id']}")
    assert created["id"] not in listed_ids(owner)
    got = owner.get(f"/connections/{created['id']}")
    assert got.status_code == 200
    assert got.json()["status"] == "stopped"


def test_delete_twice_still_answers_stopped(owner: httpx.Client) -> None:
    created = create(owner)
    owner.delete(f"/connections/{created['id']}")
    again = owner.delete(f"/connections/{created['id']}")
    assert again.status_code == 200
    assert again.json()["status"] == "stopped"


# restart -----------------------------------------------------------------------------------------


def test_restart_answers_201_with_scan_qr(owner: httpx.Client, owner_id: str) -> None:
    connection = connected_connection(owner)
    response = owner.post(f"/connections/{connection['id']}/restart")
    assert response.status_code == 201
    body = response.json()
    assert_connection(body, status="scan_qr", user_id=owner_id)
    assert body["id"] == connection["id"]
    assert owner.get(f"/connections/{connection['id']}").json()["status"] == "scan_qr"
    qr = owner.get(f"/connections/{connection['id']}/qr")
    assert qr.status_code == 200
    assert set(qr.json()) == {"value", "mimetype"}


# qr ----------------------------------------------------------------------------------------------


def test_qr_of_a_connection_waiting_for_a_scan(owner: httpx.Client) -> None:
    created = create(owner)
    response = owner.get(f"/connections/{created['id']}/qr")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"value", "mimetype"}
    assert body["mimetype"] == "image/png"
    assert_png_base64(body["value"])


def test_qr_of_a_connected_connection(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    response = owner.get(f"/connections/{connection['id']}/qr")
    assert response.status_code == 200
    assert response.json() == {"connected": True}


def test_qr_of_a_deleted_connection_is_a_409(owner: httpx.Client) -> None:
    created = create(owner)
    owner.delete(f"/connections/{created['id']}")
    response = owner.get(f"/connections/{created['id']}/qr")
    assert_error(response, 409, "This connection was deleted; create a new one")


# me ----------------------------------------------------------------------------------------------


def test_me_of_a_connected_connection(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    response = owner.get(f"/connections/{connection['id']}/me")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == f"{connection['phoneNumber']}@c.us"
    assert body["pushName"] == "Sandbox account"
    # The rest of WAHA's MeInfo may come along.
    assert set(body) <= {"id", "pushName", "lid", "jid"}, sorted(body)


def test_me_uses_the_connection_name(owner: httpx.Client) -> None:
    created = create(owner, name="Support desk")
    owner.post(f"/connections/{created['id']}/sandbox/scan")
    assert owner.get(f"/connections/{created['id']}/me").json()["pushName"] == "Support desk"


def test_me_of_an_unlinked_connection_is_an_empty_200(owner: httpx.Client) -> None:
    created = create(owner)
    response = owner.get(f"/connections/{created['id']}/me")
    assert response.status_code == 200
    assert response.content == b""
    # Zero bytes of text, not an empty "JSON" document (the OpenAPI document says so too).
    assert response.headers["content-type"].startswith("text/plain")


# chats -------------------------------------------------------------------------------------------


def test_chats_of_a_new_connection_are_empty(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    response = owner.get(f"/connections/{connection['id']}/chats")
    assert response.status_code == 200
    assert response.json() == []


def test_chats_accept_the_sdk_query_parameters(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    response = owner.get(f"/connections/{connection['id']}/chats",
                         params={"limit": 20, "offset": 0, "unread_only": "true"})
    assert response.status_code == 200
    assert response.json() == []


def test_chats_accept_a_large_sdk_limit(owner: httpx.Client) -> None:
    connection = connected_connection(owner)
    response = owner.get(f"/connections/{connection['id']}/chats", params={"limit": 1000})
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "offset=-1"])
def test_chats_bad_paging_is_ignored_or_a_nest_400(owner: httpx.Client, query: str) -> None:
    connection = connected_connection(owner)
    response = owner.get(f"/connections/{connection['id']}/chats?{query}")
    if response.status_code == 200:
        assert response.json() == []
    else:
        assert_validation(response)


# get-or-create -----------------------------------------------------------------------------------


def test_get_or_create_makes_then_reuses_a_scannable_connection(
    new_account: Callable[[str], httpx.Client],
) -> None:
    carol = new_account("carol")
    first = carol.post("/connections/get-or-create")
    assert first.status_code == 201
    body = first.json()
    assert list(body) == ["id", "status", "qr"]
    assert UUID.match(body["id"])
    assert body["status"] == "scan_qr"
    assert_png_base64(body["qr"])
    assert listed_ids(carol) == [body["id"]]

    again = carol.post("/connections/get-or-create")
    assert again.status_code == 201
    assert again.json()["id"] == body["id"]
    assert again.json()["status"] == "scan_qr"
    assert listed_ids(carol) == [body["id"]]


def test_get_or_create_never_reuses_a_linked_connection(
    new_account: Callable[[str], httpx.Client],
) -> None:
    dave = new_account("dave")
    linked = connected_connection(dave)
    response = dave.post("/connections/get-or-create")
    assert response.status_code == 201
    assert response.json()["id"] != linked["id"]
    assert dave.get(f"/connections/{linked['id']}").json()["status"] == "connected"


def test_get_or_create_virgin_only_skips_connections_with_webhooks(
    new_account: Callable[[str], httpx.Client],
) -> None:
    erin = new_account("erin")
    with Receiver() as receiver:
        used = erin.post("/connections/get-or-create").json()
        hook = erin.post(f"/connections/{used['id']}/webhooks",
                         json={"url": receiver.url, "events": ["message"]})
        assert hook.status_code == 201, hook.text
        fresh = erin.post("/connections/get-or-create", json={"virgin_only": True})
        assert fresh.status_code == 201
        assert fresh.json()["id"] != used["id"]
        assert fresh.json()["status"] == "scan_qr"
        # Without virgin_only the newest scannable connection is reused.
        reused = erin.post("/connections/get-or-create", json={"virgin_only": None})
        assert reused.json()["id"] == fresh.json()["id"]


def test_get_or_create_refuses_a_non_boolean_virgin_only(
    new_account: Callable[[str], httpx.Client],
) -> None:
    frank = new_account("frank")
    assert_bad_request(frank.post("/connections/get-or-create", json={"virgin_only": "yes"}))
    assert_bad_request(frank.post("/connections/get-or-create", content=b"{x",
                                  headers={"Content-Type": "application/json"}))
    assert listed_ids(frank) == []


# errors common to every /connections/:id route ---------------------------------------------------


@pytest.mark.parametrize(("method", "suffix"), ID_ROUTES)
@pytest.mark.parametrize("connection_id", [UNKNOWN_ID, *MALFORMED_IDS])
def test_unknown_connection_is_404(
    owner: httpx.Client, method: str, suffix: str, connection_id: str
) -> None:
    body = {"name": "x"} if method == "PATCH" else None
    response = owner.request(method, f"/connections/{connection_id}{suffix}", json=body)
    assert_error(response, 404, "Connection not found")


@pytest.mark.parametrize(("method", "suffix"), ID_ROUTES)
def test_a_path_escaping_id_is_404(owner: httpx.Client, method: str, suffix: str) -> None:
    response = owner.request(method, f"/connections/..%2Fx{suffix}")
    assert_error(response, 404)


@pytest.mark.parametrize(("method", "suffix"), ID_ROUTES)
def test_another_accounts_connection_is_403(
    owner: httpx.Client, bob: httpx.Client, method: str, suffix: str
) -> None:
    connection = connected_connection(owner)
    body = {"name": "bob was here"} if method == "PATCH" else None
    response = bob.request(method, f"/connections/{connection['id']}{suffix}", json=body)
    assert_error(response, 403, "You do not own this connection")
    assert owner.get(f"/connections/{connection['id']}").json() == connection


def test_accounts_never_see_each_others_connections(owner: httpx.Client, bob: httpx.Client) -> None:
    owners = create(owner)
    bobs = create(bob)
    assert owners["id"] not in listed_ids(bob)
    assert bobs["id"] not in listed_ids(owner)
    assert all(c["userId"] == bobs["userId"] for c in bob.get("/connections").json())
    assert bobs["userId"] != owners["userId"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/connections"), ("POST", "/connections"), ("POST", "/connections/get-or-create"),
     *[(method, f"/connections/{UNKNOWN_ID}{suffix}") for method, suffix in ID_ROUTES]],
)
def test_connection_routes_require_auth(server: ServerProcess, method: str, path: str) -> None:
    assert_unauthorized(server.base_url + "/api", method, path)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_id_ending_in_a_slash_is_404_not_a_redirect(owner: httpx.Client, method: str) -> None:
    connection = create(owner)
    response = owner.request(method, f"/connections/{connection['id']}%2F")
    assert_error(response, 404)


# Ids ending in "/" are the redirect bug above; every other id must be a 404.
@settings(max_examples=40, deadline=None)
@given(connection_id=st.text(min_size=1, max_size=40).filter(lambda text: not text.endswith("/")))
def test_garbage_ids_are_404_never_500(owner: httpx.Client, connection_id: str) -> None:
    encoded = quote(connection_id, safe="").replace(".", "%2E")
    response = owner.get(f"/connections/{encoded}")
    message = assert_error(response, 404)
    assert message == "Connection not found" or message.startswith("Cannot GET /api/connections/")


def test_the_qr_code_as_raw_text_is_what_the_png_encodes(owner: httpx.Client) -> None:
    created = owner.post("/connections").json()
    raw = owner.get(f"/connections/{created['id']}/qr", params={"format": "raw"})
    assert raw.status_code == 200
    assert set(raw.json()) == {"value"} and raw.json()["value"].startswith("wahooks-sandbox:")
    png = owner.get(f"/connections/{created['id']}/qr").json()
    assert png["mimetype"] == "image/png" and png["value"]
    owner.post(f"/connections/{created['id']}/sandbox/scan")
    assert owner.get(f"/connections/{created['id']}/qr", params={"format": "raw"}).json() == {
        "connected": True
    }


def test_a_deleted_connection_cannot_be_restarted_or_scanned_back(owner: httpx.Client) -> None:
    created = owner.post("/connections").json()
    assert owner.delete(f"/connections/{created['id']}").json()["status"] == "stopped"
    for method, path in (("POST", "restart"), ("GET", "qr"), ("POST", "sandbox/scan")):
        answer = owner.request(method, f"/connections/{created['id']}/{path}")
        assert answer.status_code == 409, (path, answer.text)
    assert created["id"] not in [c["id"] for c in owner.get("/connections").json()]
    assert owner.get(f"/connections/{created['id']}").json()["status"] == "stopped"


def test_a_name_with_a_nul_character_is_a_400(owner: httpx.Client) -> None:
    created = owner.post("/connections", json={"name": "a\u0000b"})
    assert created.status_code == 400
    assert created.json()["message"] == ["name must not contain NUL characters"]


def test_a_body_over_the_limit_is_a_413_before_it_is_read(
    server: ServerProcess, owner: httpx.Client
) -> None:
    import socket

    connection = owner.post("/connections").json()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"PATCH /api/connections/{connection['id']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {server.token}\r\nContent-Type: application/json\r\n"
            "Content-Length: 60000000\r\n\r\n{".encode()
        )
        # The head and the body may arrive in separate segments: read until the body is whole.
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
        answer = received.decode()
    assert answer.startswith("HTTP/1.1 413"), answer
    assert '"statusCode":413' in answer
