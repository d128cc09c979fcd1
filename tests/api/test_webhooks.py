"""Webhook configs: list and create under a connection, PUT and DELETE /api/webhooks/:id
(compat.md 1.2 WebhookConfig, 1.3). Logs, tests and redeliveries are in test_logs.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.contract import (
    MALFORMED_IDS,
    UNKNOWN_ID,
    assert_bad_request,
    assert_error,
    assert_unauthorized,
    assert_validation,
    assert_webhook,
    json_values,
)
from support.receiver import Receiver
from support.server import ServerProcess

URL_ERROR = "url must be a URL address"
SCHEME_ERROR = "webhook URL must start with http:// or https://"
EVENTS_ERROR = "events must be an array"
EACH_EVENT_ERROR = "each value in events must be a string"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """Where every accepted webhook points, so no delivery ever leaves 127.0.0.1."""
    with Receiver() as running:
        yield running


@pytest.fixture
def connection(owner: httpx.Client) -> dict[str, Any]:
    """A connection waiting for its QR scan: it emits no events, so nothing is delivered."""
    response = owner.post("/connections")
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def create(client: httpx.Client, connection_id: str, url: str, events: list[str]) -> dict[str, Any]:
    response = client.post(f"/connections/{connection_id}/webhooks",
                           json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def listed(client: httpx.Client, connection_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/connections/{connection_id}/webhooks")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# create and list ---------------------------------------------------------------------------------


def test_create_answers_201_with_the_signing_secret(
    owner: httpx.Client, owner_id: str, connection: dict[str, Any], receiver: Receiver
) -> None:
    response = owner.post(f"/connections/{connection['id']}/webhooks",
                          json={"url": receiver.url, "events": ["message", "message.any"]})
    assert response.status_code == 201
    body = response.json()
    assert_webhook(body, user_id=owner_id, connection_id=connection["id"])
    assert body["url"] == receiver.url
    assert body["events"] == ["message", "message.any"]
    assert body["active"] is True
    assert body["createdAt"] == body["updatedAt"]


def test_every_webhook_gets_its_own_secret(
    owner: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    secrets = {create(owner, connection["id"], receiver.url, ["*"])["signingSecret"]
               for _ in range(3)}
    assert len(secrets) == 3


def test_list_shows_every_webhook_of_the_connection_with_its_secret(
    owner: httpx.Client, owner_id: str, connection: dict[str, Any], receiver: Receiver
) -> None:
    assert listed(owner, connection["id"]) == []
    first = create(owner, connection["id"], receiver.url, ["*"])
    second = create(owner, connection["id"], receiver.url + "/2", ["message"])
    webhooks = listed(owner, connection["id"])
    assert webhooks == [first, second]
    for webhook in webhooks:
        assert_webhook(webhook, user_id=owner_id, connection_id=connection["id"])


def test_list_is_per_connection(owner: httpx.Client, receiver: Receiver) -> None:
    one, two = owner.post("/connections").json(), owner.post("/connections").json()
    hook = create(owner, one["id"], receiver.url, ["*"])
    assert listed(owner, one["id"]) == [hook]
    assert listed(owner, two["id"]) == []


def test_create_ignores_fields_it_does_not_know(
    owner: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    forged = "f" * 64
    response = owner.post(f"/connections/{connection['id']}/webhooks", json={
        "url": receiver.url, "events": ["*"], "active": False, "signingSecret": forged,
        "id": UNKNOWN_ID, "sessionId": UNKNOWN_ID,
    })
    assert response.status_code == 201
    body = response.json()
    assert body["active"] is True
    assert body["signingSecret"] != forged
    assert body["id"] != UNKNOWN_ID
    assert body["sessionId"] == connection["id"]


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({}, [URL_ERROR, EVENTS_ERROR]),
        ({"url": None, "events": None}, [URL_ERROR, EVENTS_ERROR]),
        ({"events": ["*"]}, [URL_ERROR]),
        ({"url": "not a url", "events": ["*"]},
         [URL_ERROR, "webhook URL must not contain spaces or control characters"]),
        ({"url": "ftp://x", "events": ["*"]}, [URL_ERROR, SCHEME_ERROR]),
        ({"url": "ftp://example.com/hook", "events": ["*"]}, [URL_ERROR, SCHEME_ERROR]),
        ({"url": "javascript:alert(1)", "events": ["*"]}, [URL_ERROR, SCHEME_ERROR]),
        ({"url": "localhost:3000/webhook", "events": ["*"]}, [URL_ERROR, SCHEME_ERROR]),
        ({"url": "example.com", "events": ["*"]}, [URL_ERROR, SCHEME_ERROR]),
        ({"url": "http://", "events": ["*"]}, [URL_ERROR, "webhook URL has no host"]),
        ({"url": "http://example.com:99999/x", "events": ["*"]},
         [URL_ERROR, "webhook URL is not a valid URL: Port out of range 0-65535"]),
        ({"url": "", "events": ["*"]}, [URL_ERROR, SCHEME_ERROR]),
        ({"url": 5, "events": ["*"]}, [URL_ERROR]),
        ({"url": ["http://127.0.0.1/"], "events": ["*"]}, [URL_ERROR]),
        ({"url": "http://127.0.0.1:1/x"}, [EVENTS_ERROR]),
        ({"url": "http://127.0.0.1:1/x", "events": None}, [EVENTS_ERROR]),
        ({"url": "http://127.0.0.1:1/x", "events": "message"}, [EVENTS_ERROR]),
        ({"url": "http://127.0.0.1:1/x", "events": {"0": "message"}}, [EVENTS_ERROR]),
        ({"url": "http://127.0.0.1:1/x", "events": [1]}, [EACH_EVENT_ERROR]),
        ({"url": "http://127.0.0.1:1/x", "events": ["*", None]}, [EACH_EVENT_ERROR]),
        ({"url": "ftp://x", "events": [1]}, [URL_ERROR, SCHEME_ERROR, EACH_EVENT_ERROR]),
    ],
)
def test_create_validates_like_the_original(
    owner: httpx.Client, connection: dict[str, Any], body: dict[str, Any], messages: list[str]
) -> None:
    response = owner.post(f"/connections/{connection['id']}/webhooks", json=body)
    found = assert_validation(response, *messages)
    assert len(found) == len(messages), found
    assert listed(owner, connection["id"]) == []


@pytest.mark.parametrize("content", [b"{bad", b"[]", b'[{"url": "http://127.0.0.1/"}]', b"7"])
def test_create_refuses_a_malformed_body(
    owner: httpx.Client, connection: dict[str, Any], content: bytes
) -> None:
    response = owner.post(f"/connections/{connection['id']}/webhooks", content=content,
                          headers={"Content-Type": "application/json"})
    assert_bad_request(response)
    assert isinstance(response.json()["message"], str)
    assert listed(owner, connection["id"]) == []


# update ------------------------------------------------------------------------------------------


def test_update_with_an_empty_body_changes_nothing(
    owner: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    hook = create(owner, connection["id"], receiver.url, ["message"])
    for body in ({}, {"url": None, "events": None, "active": None}):
        response = owner.put(f"/webhooks/{hook['id']}", json=body)
        assert response.status_code == 200
        updated = response.json()
        assert updated["updatedAt"] >= hook["updatedAt"]
        assert {**updated, "updatedAt": None} == {**hook, "updatedAt": None}


def test_update_without_a_body_changes_nothing(
    owner: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    hook = create(owner, connection["id"], receiver.url, ["message"])
    response = owner.put(f"/webhooks/{hook['id']}")
    assert response.status_code == 200
    assert {**response.json(), "updatedAt": None} == {**hook, "updatedAt": None}


def test_update_active(
    owner: httpx.Client, owner_id: str, connection: dict[str, Any], receiver: Receiver
) -> None:
    hook = create(owner, connection["id"], receiver.url, ["*"])
    paused = owner.put(f"/webhooks/{hook['id']}", json={"active": False})
    assert paused.status_code == 200
    body = paused.json()
    assert_webhook(body, user_id=owner_id, connection_id=connection["id"])
    assert body["active"] is False
    assert {**body, "active": True, "updatedAt": None} == {**hook, "updatedAt": None}
    assert listed(owner, connection["id"])[0]["active"] is False
    resumed = owner.put(f"/webhooks/{hook['id']}", json={"active": True})
    assert resumed.json()["active"] is True
    assert listed(owner, connection["id"])[0]["active"] is True


def test_update_url_and_events_keeps_the_secret(
    owner: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    hook = create(owner, connection["id"], receiver.url, ["*"])
    response = owner.put(f"/webhooks/{hook['id']}", json={
        "url": receiver.url + "/moved", "events": ["message", "presence.update"],
        "signingSecret": "0" * 64,
    })
    assert response.status_code == 200
    body = response.json()
    assert body["url"] == receiver.url + "/moved"
    assert body["events"] == ["message", "presence.update"]
    assert body["signingSecret"] == hook["signingSecret"]
    assert body["active"] is True
    assert body["id"] == hook["id"] and body["createdAt"] == hook["createdAt"]
    assert listed(owner, connection["id"]) == [body]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "ftp://x"}, URL_ERROR),
        ({"url": "not a url"}, URL_ERROR),
        ({"url": 5}, URL_ERROR),
        ({"events": "message"}, EVENTS_ERROR),
        ({"events": [1]}, EACH_EVENT_ERROR),
        ({"active": "no"}, "active must be a boolean value"),
        ({"active": 0}, "active must be a boolean value"),
        ({"ordering": "fifo"}, "ordering must be one of: none, chat (got 'fifo')"),
        ({"ordering": "CHAT"}, "ordering must be one of: none, chat (got 'CHAT')"),
        ({"ordering": True}, "ordering must be one of: none, chat (got a bool)"),
    ],
)
def test_update_validates_and_changes_nothing_on_error(
    owner: httpx.Client, connection: dict[str, Any], receiver: Receiver,
    body: dict[str, Any], message: str,
) -> None:
    hook = create(owner, connection["id"], receiver.url, ["*"])
    response = owner.put(f"/webhooks/{hook['id']}", json=body)
    assert_validation(response, message)
    assert listed(owner, connection["id"]) == [hook]


def test_update_refuses_a_malformed_body(
    owner: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    hook = create(owner, connection["id"], receiver.url, ["*"])
    response = owner.put(f"/webhooks/{hook['id']}", content=b'{"active": fals',
                         headers={"Content-Type": "application/json"})
    assert_bad_request(response)
    assert listed(owner, connection["id"]) == [hook]


# per-chat ordering -------------------------------------------------------------------------------


def test_ordering_is_none_unless_asked_and_set_on_create_or_update(
    owner: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    plain = create(owner, connection["id"], receiver.url, ["*"])
    assert plain["ordering"] == "none"
    response = owner.post(f"/connections/{connection['id']}/webhooks",
                          json={"url": receiver.url, "events": ["message"], "ordering": "chat"})
    assert response.status_code == 201, response.text
    ordered = response.json()
    assert ordered["ordering"] == "chat"
    assert [hook["ordering"] for hook in listed(owner, connection["id"])] == ["none", "chat"]
    changed = owner.put(f"/webhooks/{plain['id']}", json={"ordering": "chat"}).json()
    assert changed["ordering"] == "chat" and changed["url"] == plain["url"]
    # null means absent (the official SDK sends every optional key): unchanged.
    assert owner.put(f"/webhooks/{plain['id']}", json={"ordering": None}).json()["ordering"] == (
        "chat"
    )
    assert owner.put(f"/webhooks/{plain['id']}", json={"ordering": "none"}).json()[
        "ordering"] == "none"


def test_create_refuses_an_unknown_ordering_and_creates_nothing(
    owner: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    response = owner.post(f"/connections/{connection['id']}/webhooks",
                          json={"url": receiver.url, "events": ["*"], "ordering": "fifo"})
    assert_validation(response, "ordering must be one of: none, chat (got 'fifo')")
    assert listed(owner, connection["id"]) == []


# delete ------------------------------------------------------------------------------------------


def test_delete_answers_success_and_the_webhook_is_gone(
    owner: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    keep = create(owner, connection["id"], receiver.url, ["*"])
    drop = create(owner, connection["id"], receiver.url, ["*"])
    response = owner.delete(f"/webhooks/{drop['id']}")
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert listed(owner, connection["id"]) == [keep]
    assert_error(owner.delete(f"/webhooks/{drop['id']}"), 404, "Webhook config not found")
    assert_error(owner.put(f"/webhooks/{drop['id']}", json={}), 404, "Webhook config not found")
    assert_error(owner.get(f"/webhooks/{drop['id']}/logs"), 404, "Webhook config not found")


# errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("connection_id", [UNKNOWN_ID, *MALFORMED_IDS])
def test_webhooks_of_an_unknown_connection_are_404(
    owner: httpx.Client, connection_id: str, receiver: Receiver
) -> None:
    assert_error(owner.get(f"/connections/{connection_id}/webhooks"), 404, "Connection not found")
    response = owner.post(f"/connections/{connection_id}/webhooks",
                          json={"url": receiver.url, "events": ["*"]})
    assert_error(response, 404, "Connection not found")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("webhook_id", [UNKNOWN_ID, *MALFORMED_IDS])
def test_unknown_webhook_is_404(owner: httpx.Client, method: str, webhook_id: str) -> None:
    body = {"active": False} if method == "PUT" else None
    response = owner.request(method, f"/webhooks/{webhook_id}", json=body)
    assert_error(response, 404, "Webhook config not found")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_path_escaping_webhook_id_is_404(owner: httpx.Client, method: str) -> None:
    assert_error(owner.request(method, "/webhooks/..%2F..%2Fconnections"), 404)
    assert_error(owner.request(method, "/webhooks/%2e%2e"), 404, "Webhook config not found")


def test_another_account_cannot_touch_a_connections_webhooks(
    owner: httpx.Client, bob: httpx.Client, connection: dict[str, Any], receiver: Receiver
) -> None:
    hook = create(owner, connection["id"], receiver.url, ["*"])
    assert_error(bob.get(f"/connections/{connection['id']}/webhooks"), 403,
                 "You do not own this connection")
    response = bob.post(f"/connections/{connection['id']}/webhooks",
                        json={"url": receiver.url, "events": ["*"]})
    assert_error(response, 403, "You do not own this connection")
    assert listed(owner, connection["id"]) == [hook]


@pytest.mark.parametrize(("method", "body"), [("PUT", {"active": False}), ("PUT", {}),
                                              ("DELETE", None)])
def test_another_account_cannot_change_a_webhook(
    owner: httpx.Client, bob: httpx.Client, connection: dict[str, Any], receiver: Receiver,
    method: str, body: dict[str, Any] | None,
) -> None:
    hook = create(owner, connection["id"], receiver.url, ["*"])
    response = bob.request(method, f"/webhooks/{hook['id']}", json=body)
    assert_error(response, 403, "You do not own this webhook config")
    assert listed(owner, connection["id"]) == [hook]


def test_a_webhook_on_anothers_connection_stays_invisible(
    owner: httpx.Client, bob: httpx.Client, receiver: Receiver
) -> None:
    bobs_connection = bob.post("/connections").json()
    bobs_hook = create(bob, bobs_connection["id"], receiver.url, ["*"])
    assert_error(owner.put(f"/webhooks/{bobs_hook['id']}", json={"url": "http://127.0.0.1:1/"}),
                 403, "You do not own this webhook config")
    assert listed(bob, bobs_connection["id"]) == [bobs_hook]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", f"/connections/{UNKNOWN_ID}/webhooks"), ("POST", f"/connections/{UNKNOWN_ID}/webhooks"),
     ("PUT", f"/webhooks/{UNKNOWN_ID}"), ("DELETE", f"/webhooks/{UNKNOWN_ID}")],
)
def test_webhook_routes_require_auth(server: ServerProcess, method: str, path: str) -> None:
    assert_unauthorized(server.base_url + "/api", method, path)


# properties --------------------------------------------------------------------------------------

FIELDS = st.sampled_from(["url", "events", "active"])
URLS = st.sampled_from(["http://127.0.0.1:1/hook", "https://127.0.0.1/x?y=1", "ftp://x",
                        "not a url", "", "http://", "//127.0.0.1/x"])
EVENTS = st.lists(st.sampled_from(["*", "message", "message.any", "session.status"]),
                  min_size=1, max_size=3)


def bodies() -> st.SearchStrategy[Any]:
    sensible = st.fixed_dictionaries(
        {}, optional={"url": URLS | json_values(), "events": EVENTS | json_values(),
                      "active": st.booleans() | json_values()},
    )
    return sensible | json_values(FIELDS)


@settings(max_examples=40, deadline=None)
@given(body=bodies())
def test_create_answers_201_or_400_never_500(owner: httpx.Client, body: Any) -> None:
    # A fresh connection that is never scanned: it emits no events, so no URL is ever called.
    connection = owner.post("/connections").json()
    response = owner.post(f"/connections/{connection['id']}/webhooks", json=body)
    if response.status_code == 201:
        created = response.json()
        assert isinstance(body, dict)
        assert created["events"] == list(dict.fromkeys(body["events"]))
        assert created["active"] is True
        assert listed(owner, connection["id"]) == [created]
    else:
        assert_bad_request(response)
        assert listed(owner, connection["id"]) == []


@settings(max_examples=40, deadline=None)
@given(body=bodies())
def test_update_answers_200_or_400_never_500(
    owner: httpx.Client, receiver: Receiver, body: Any
) -> None:
    connection = owner.post("/connections").json()
    hook = create(owner, connection["id"], receiver.url, ["*"])
    response = owner.put(f"/webhooks/{hook['id']}", json=body)
    if response.status_code == 200:
        updated = response.json()
        assert updated["signingSecret"] == hook["signingSecret"]
        assert listed(owner, connection["id"]) == [updated]
    else:
        assert_bad_request(response)
        assert listed(owner, connection["id"]) == [hook]
