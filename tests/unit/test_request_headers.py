"""What an attempt stores of its request, and the block rebuilt from it (the comparison with what
a real receiver got is tests/api/test_request_headers.py)."""

from __future__ import annotations

import orjson

from wahooks.models import SentRequest
from wahooks.storage.request_headers import request_headers, sent_request_json

SENT = SentRequest(1_700_000_000, "sha256=ab", "v1,cd", "[::1]:8080", "wahooks/1")


def rebuilt(text: str | None) -> tuple[tuple[str, str], ...] | None:
    return request_headers(text, delivery_id="d-1", event_type="message", attempt=3,
                           body_length=42)


def test_nothing_stored_is_none_and_not_an_empty_block() -> None:
    assert sent_request_json(None) is None
    assert rebuilt(None) is None


def test_the_stored_parts_and_the_delivery_make_the_whole_block() -> None:
    headers = dict(rebuilt(sent_request_json(SENT)) or ())
    assert headers["Host"] == "[::1]:8080" and headers["User-Agent"] == "wahooks/1"
    assert headers["X-WAHooks-Timestamp"] == headers["webhook-timestamp"] == "1700000000"
    assert headers["X-WAHooks-Signature"] == "sha256=ab"
    assert headers["webhook-signature"] == "v1,cd"
    assert headers["webhook-id"] == headers["X-WAHooks-Delivery"] == "d-1"
    assert (headers["X-WAHooks-Event"], headers["X-WAHooks-Attempt"]) == ("message", "3")
    assert headers["Content-Length"] == "42"


def test_a_layout_this_release_does_not_know_is_not_guessed_at() -> None:
    layout, *fields = orjson.loads(sent_request_json(SENT) or "")
    assert rebuilt(orjson.dumps([layout + 1, *fields]).decode()) is None
