"""What compat.md 1.1-1.2 says every answer looks like, as assertions the API tests share."""

from __future__ import annotations

import base64
import json
import re
from http import HTTPStatus
from typing import Any

import httpx
from hypothesis import strategies as st

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RAW_TOKEN = re.compile(r"^wh_[0-9a-f]{48}$")
SIGNING_SECRET = re.compile(r"^[0-9a-f]{64}$")
SESSION_NAME = re.compile(r"^u_[0-9a-f]{12}_s_[0-9a-f]{12}$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# A well-formed UUID that no row has, and ids that are not UUIDs at all (the original answered
# those with 500; compat.md 1.1 says 404 for any unknown id is the safe answer).
UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"
MALFORMED_IDS = ["abc", "%2e%2e", "1", "00000000-0000-7000-8000-00000000000g", "'%20OR%201=1"]

CONNECTION_KEYS = {
    "id", "userId", "workerId", "name", "sessionName", "phoneNumber", "status", "engine",
    "createdAt", "updatedAt",
}
WEBHOOK_KEYS = {
    "id", "userId", "sessionId", "url", "events", "signingSecret", "active", "createdAt",
    "updatedAt",
    "ordering",  # beside the original's: per-chat ordering ("chat" or "none")
}
# Beside the original's fields (additive): why and since when wahooks disabled the webhook.
WEBHOOK_EXTRA_KEYS = {"disabledReason", "disabledAt"}
TOKEN_KEYS = {"id", "name", "tokenPrefix", "active", "lastUsedAt", "createdAt"}
TOKEN_CREATED_KEYS = {"id", "name", "token", "tokenPrefix", "createdAt"}
# The original's WebhookLog, plus this server's delivery details (additive: clients ignore them).
LOG_KEYS = {
    "id", "webhookConfigId", "eventType", "payload", "status", "attempts", "deliveredAt",
    "createdAt",
}
LOG_EXTRA_KEYS = {"eventId", "nextAttemptAt", "lastError", "lastStatusCode", "attemptLog"}

UNAUTHORIZED = [
    # (Authorization header or None, message) from compat.md 1.1
    (None, "Missing or invalid Authorization header"),
    ("Basic dXNlcjpwYXNz", "Missing or invalid Authorization header"),
    ("bearer wh_" + "0" * 48, "Missing or invalid Authorization header"),
    ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Invalid token format"),
    ("Bearer wh_" + "0" * 48, "Invalid or revoked API token"),
    ("Bearer wh_nothex", "Invalid or revoked API token"),
]


def assert_error(response: httpx.Response, status: int, message: Any = None) -> Any:
    """A NestJS HttpException body: exactly message, error, statusCode, in that order."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert list(body) == ["message", "error", "statusCode"], body
    assert body["error"] == HTTPStatus(status).phrase
    assert body["statusCode"] == status
    if message is not None:
        assert body["message"] == message, body
    return body["message"]


def assert_validation(response: httpx.Response, *messages: str) -> list[str]:
    """400 whose message is a list of strings containing each of `messages`."""
    found = assert_error(response, 400)
    assert isinstance(found, list) and all(isinstance(item, str) for item in found), found
    for message in messages:
        assert message in found, (message, found)
    return found


def assert_bad_request(response: httpx.Response) -> None:
    """400 with a non-empty message (a string for a malformed body, a list for field checks)."""
    message = assert_error(response, 400)
    assert message, response.text


def assert_connection(body: dict[str, Any], *, status: str, user_id: str) -> None:
    assert set(body) == CONNECTION_KEYS, sorted(body)
    assert UUID.match(body["id"])
    assert body["userId"] == user_id
    assert body["workerId"] is None
    assert body["status"] == status
    assert body["engine"] == "NOWEB"
    assert SESSION_NAME.match(body["sessionName"]), body["sessionName"]
    assert body["sessionName"][2:14] == user_id.replace("-", "")[:12]
    assert body["phoneNumber"] is None or re.fullmatch(r"\d{6,20}", body["phoneNumber"])
    assert ISO.match(body["createdAt"]) and ISO.match(body["updatedAt"])
    assert body["updatedAt"] >= body["createdAt"]


def assert_webhook(body: dict[str, Any], *, user_id: str, connection_id: str) -> None:
    assert set(body) == WEBHOOK_KEYS | WEBHOOK_EXTRA_KEYS, sorted(body)
    assert UUID.match(body["id"])
    assert body["userId"] == user_id
    assert body["sessionId"] == connection_id
    assert isinstance(body["url"], str)
    assert isinstance(body["events"], list) and all(isinstance(e, str) for e in body["events"])
    assert SIGNING_SECRET.match(body["signingSecret"]), body["signingSecret"]
    assert isinstance(body["active"], bool)
    assert ISO.match(body["createdAt"]) and ISO.match(body["updatedAt"])
    assert body["updatedAt"] >= body["createdAt"]


def assert_log(body: dict[str, Any], *, webhook_id: str) -> None:
    assert set(body) == LOG_KEYS | LOG_EXTRA_KEYS, sorted(body)
    assert UUID.match(body["id"])
    assert body["webhookConfigId"] == webhook_id
    assert isinstance(body["eventType"], str)
    assert body["status"] in ("pending", "delivered", "failed")
    assert isinstance(body["attempts"], int) and body["attempts"] >= 0
    assert ISO.match(body["createdAt"])
    if body["status"] == "delivered":
        assert ISO.match(body["deliveredAt"])
    else:
        assert body["deliveredAt"] is None


def assert_png_base64(value: str) -> None:
    assert not value.startswith("data:")
    assert base64.b64decode(value, validate=True).startswith(PNG_MAGIC)


def assert_unauthorized(base_url: str, method: str, path: str) -> None:
    """Every way of not being authenticated gets the original's 401 message, even with a body
    the route would refuse (the guard runs before any validation)."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for authorization, message in UNAUTHORIZED:
            headers = {} if authorization is None else {"Authorization": authorization}
            response = client.request(method, path, headers=headers, content=b"{not json")
            assert_error(response, 401, message)


def json_or_empty(response: httpx.Response) -> Any:
    return json.loads(response.content) if response.content else None


def json_values(keys: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Any]:
    """Arbitrary JSON documents; objects draw their keys from `keys` (field names worth hitting)."""
    scalars = (
        st.none() | st.booleans() | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
    )
    names = st.text(max_size=10) if keys is None else keys | st.text(max_size=10)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
        max_leaves=10,
    )
