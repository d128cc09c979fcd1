"""POST /api/webhooks/:id/rotate-secret: the answer, and bad input refused with nothing changed
(docs/signatures.md). What deliveries carry during and after the overlap is proved end to end in
tests/acceptance/test_secret_rotation.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from api.contract import MALFORMED_IDS, UNKNOWN_ID, assert_error, assert_validation
from support.receiver import Receiver

OVERLAP_ERROR = "overlapSeconds must be a whole number of seconds from 0 to 604800 (7 days)"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def hook(owner: httpx.Client, receiver: Receiver) -> dict[str, Any]:
    """A webhook on a connection waiting for its QR scan: nothing is delivered to it."""
    connection = owner.post("/connections").json()
    response = owner.post(f"/connections/{connection['id']}/webhooks",
                          json={"url": receiver.url, "events": ["*"]})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _listed(client: httpx.Client, hook: dict[str, Any]) -> dict[str, Any]:
    found = [w for w in client.get(f"/connections/{hook['sessionId']}/webhooks").json()
             if w["id"] == hook["id"]]
    assert len(found) == 1
    return found[0]  # type: ignore[no-any-return]


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(("body", "overlap"), [(None, 86400), ({}, 86400),
                                               ({"overlapSeconds": 600}, 600),
                                               ({"overlapSeconds": 604800}, 604800),
                                               ({"overlapSeconds": 0}, 0)])
def test_rotation_answers_the_new_secret_and_when_the_old_one_stops(
    owner: httpx.Client, hook: dict[str, Any], body: dict[str, Any] | None, overlap: int
) -> None:
    before = time.time()
    response = owner.post(f"/webhooks/{hook['id']}/rotate-secret", json=body)
    after = time.time()

    assert response.status_code == 201, response.text
    answer = response.json()
    assert list(answer) == ["success", "webhookId", "signingSecret", "previousSecretExpiresAt"]
    assert answer["success"] is True and answer["webhookId"] == hook["id"]
    assert len(answer["signingSecret"]) == 64 and answer["signingSecret"] != hook["signingSecret"]
    expires = _seconds(answer["previousSecretExpiresAt"])
    assert before + overlap - 1 <= expires <= after + overlap + 1
    listed = _listed(owner, hook)
    assert listed["signingSecret"] == answer["signingSecret"]
    assert list(listed) == list(hook)  # the webhook's shape is the original's


@pytest.mark.parametrize("overlap", [-1, 604801, 1.5, "60", True, [60], {"s": 1}])
def test_an_overlap_out_of_range_is_400_and_changes_nothing(
    owner: httpx.Client, hook: dict[str, Any], overlap: Any
) -> None:
    response = owner.post(f"/webhooks/{hook['id']}/rotate-secret", json={"overlapSeconds": overlap})

    assert_validation(response, OVERLAP_ERROR)
    assert _listed(owner, hook) == hook


def test_a_body_that_is_not_an_object_is_400(owner: httpx.Client, hook: dict[str, Any]) -> None:
    response = owner.post(f"/webhooks/{hook['id']}/rotate-secret", content=b"[1]",
                          headers={"Content-Type": "application/json"})
    assert_error(response, 400, "Request body must be a JSON object")
    assert _listed(owner, hook) == hook


def test_another_accounts_webhook_is_403_and_changes_nothing(
    owner: httpx.Client, bob: httpx.Client, hook: dict[str, Any]
) -> None:
    response = bob.post(f"/webhooks/{hook['id']}/rotate-secret", json={})

    assert_error(response, 403, "You do not own this webhook config")
    assert _listed(owner, hook) == hook


def test_a_deleted_webhook_is_404(owner: httpx.Client, hook: dict[str, Any]) -> None:
    assert owner.delete(f"/webhooks/{hook['id']}").status_code == 200

    response = owner.post(f"/webhooks/{hook['id']}/rotate-secret", json={})

    assert_error(response, 404, "Webhook config not found")
    assert owner.get(f"/connections/{hook['sessionId']}/webhooks").json() == []


@pytest.mark.parametrize("webhook_id", [UNKNOWN_ID, *MALFORMED_IDS])
def test_unknown_and_malformed_ids_are_404(owner: httpx.Client, webhook_id: str) -> None:
    assert_error(owner.post(f"/webhooks/{webhook_id}/rotate-secret", json={}), 404)


def test_rotation_needs_a_token(server: Any, hook: dict[str, Any]) -> None:
    response = httpx.post(f"{server.base_url}/api/webhooks/{hook['id']}/rotate-secret", json={})
    assert response.status_code == 401
