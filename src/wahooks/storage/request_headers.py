"""An attempt's request headers: stored as the parts the delivery does not tell, rebuilt whole.

A delivery's request carries some thirteen headers (~560 bytes as a JSON list); most of them are
known from the delivery itself (its id, event type, body length, the attempt's number) or are
constants of the sender. So an attempt stores only a `SentRequest` (~180 bytes of JSON: the
timestamp, both signatures, the Host and the User-Agent), and reading the log rebuilds the block in
the order and case the sender wrote it. bench/request_headers.py measures both ways: either adds
about 0.7-0.8 µs of CPU per attempt (signing and building the block cost ~6.4 µs), so the choice is
made by the bytes: ~180 per attempt against ~570 for the whole block.

The stored JSON array starts with its layout's number. Changing what the sender writes (signing.py's
`signed_headers`, the headers delivery/sender.py adds, delivery/http_client.py's own) means a new
layout here, and attempts stored under an older one still rebuild as they were sent;
tests/api/test_request_headers.py compares the rebuilt block with what a real receiver got.

No secret is stored or rebuilt: signatures only, which the receiver sees anyway.
"""

from __future__ import annotations

import orjson

from wahooks.models import SentRequest
from wahooks.signing import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    TIMESTAMP_HEADER,
)

LAYOUT = 1

Headers = tuple[tuple[str, str], ...]


def sent_request_json(request: SentRequest | None) -> str | None:
    """What the attempts table keeps of a request (its `request_headers` column)."""
    if request is None:
        return None
    # A JSON array, [layout, *SentRequest's fields]: keyless, as it is written per attempt.
    return orjson.dumps((LAYOUT, *request)).decode()


def request_headers(
    text: str | None, *, delivery_id: str, event_type: str, attempt: int, body_length: int
) -> Headers | None:
    """The headers an attempt sent, from its stored JSON and its delivery; None if not stored."""
    if not text:
        return None
    layout, *fields = orjson.loads(text)
    if layout != LAYOUT:
        return None  # a layout from a newer release: not guessed at
    sent = SentRequest(*fields)
    timestamp = str(sent.timestamp)
    return (
        # delivery/http_client.py writes these three first ...
        ("Host", sent.host),
        ("User-Agent", sent.user_agent),
        ("Connection", "keep-alive"),
        # ... then signing.signed_headers' block with the delivery's id ...
        ("Content-Type", "application/json"),
        (SIGNATURE_HEADER, sent.signature),
        (TIMESTAMP_HEADER, timestamp),
        (EVENT_HEADER, event_type),
        (STANDARD_ID_HEADER, delivery_id),
        (STANDARD_TIMESTAMP_HEADER, timestamp),
        (STANDARD_SIGNATURE_HEADER, sent.standard_signature),
        # ... the two delivery/sender.py adds, and the body's length last.
        ("X-WAHooks-Delivery", delivery_id),
        ("X-WAHooks-Attempt", str(attempt)),
        ("Content-Length", str(body_length)),
    )
