from __future__ import annotations

import json
import re
import string
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers as StarletteHeaders
from werkzeug.datastructures import Headers as WerkzeugHeaders

from wahooks.signing import (
    InvalidSignature,
    MissingSignatureHeaders,
    SignatureVerificationError,
    TimestampOutsideTolerance,
    signature,
    signed_headers,
    signing_secret,
    verify_signature,
)

SECRET = "9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d0f"
NOW = 1_790_000_000

secrets_ = st.text(alphabet=string.printable, min_size=1, max_size=80)
bodies = st.binary(max_size=300)
timestamps = st.integers(min_value=0, max_value=2**40)


def headers_for(body: bytes, timestamp: int = NOW, secret: str = SECRET) -> dict[str, str]:
    return signed_headers(secret, "message", body, timestamp)


@pytest.fixture(scope="module")
def example(shared_dir: Path) -> dict[str, Any]:
    path = shared_dir / "fixtures" / "wahooks" / "outgoing-signature.example.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_reproduces_the_original_wahooks_headers(example: dict[str, Any]) -> None:
    sent = example["headers"]
    body = example["body"].encode()

    headers = signed_headers(
        example["signingSecret"], sent["X-WAHooks-Event"], body, int(sent["X-WAHooks-Timestamp"])
    )

    assert headers == sent


def test_verifies_the_original_wahooks_example(example: dict[str, Any]) -> None:
    now = int(example["headers"]["X-WAHooks-Timestamp"])

    verify_signature(example["body"], example["headers"], example["signingSecret"], now=now)


def test_signature_is_sha256_prefix_and_lower_case_hex() -> None:
    value = signature(SECRET, NOW, b"{}")

    assert re.fullmatch("sha256=[0-9a-f]{64}", value)


def test_signed_headers_are_exactly_four() -> None:
    headers = signed_headers(SECRET, "message.ack", b"{}", NOW)

    assert headers == {
        "Content-Type": "application/json",
        "X-WAHooks-Event": "message.ack",
        "X-WAHooks-Timestamp": str(NOW),
        "X-WAHooks-Signature": signature(SECRET, NOW, b"{}"),
    }


def test_negative_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="unix seconds"):
        signature(SECRET, -1, b"{}")


def test_signing_secret_is_64_lower_case_hex_and_fresh() -> None:
    made = {signing_secret() for _ in range(20)}

    assert len(made) == 20
    assert all(len(s) == 64 and set(s) <= set("0123456789abcdef") for s in made)


@given(secret=secrets_, body=bodies, timestamp=timestamps)
def test_everything_signed_verifies(secret: str, body: bytes, timestamp: int) -> None:
    headers = signed_headers(secret, "message", body, timestamp)

    verify_signature(body, headers, secret, now=timestamp)


@given(body=st.text(max_size=100))
def test_str_body_verifies_as_its_utf8_bytes(body: str) -> None:
    verify_signature(body, headers_for(body.encode()), SECRET, now=NOW)


@given(body=bodies.filter(bool), data=st.data())
def test_any_changed_body_byte_fails(body: bytes, data: st.DataObject) -> None:
    headers = headers_for(body)
    position = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:position] + bytes([body[position] ^ flip]) + body[position + 1 :]

    with pytest.raises(InvalidSignature):
        verify_signature(tampered, headers, SECRET, now=NOW)


@given(secret=secrets_, data=st.data())
def test_any_changed_secret_character_fails(secret: str, data: st.DataObject) -> None:
    headers = signed_headers(secret, "message", b"{}", NOW)
    position = data.draw(st.integers(0, len(secret) - 1))
    other = data.draw(st.sampled_from(string.printable).filter(lambda c: c != secret[position]))
    wrong = secret[:position] + other + secret[position + 1 :]

    with pytest.raises(InvalidSignature):
        verify_signature(b"{}", headers, wrong, now=NOW)


@given(timestamp=timestamps, data=st.data())
def test_any_changed_timestamp_digit_fails(timestamp: int, data: st.DataObject) -> None:
    headers = headers_for(b"{}", timestamp)
    text = headers["X-WAHooks-Timestamp"]
    position = data.draw(st.integers(0, len(text) - 1))
    digit = data.draw(st.sampled_from(string.digits).filter(lambda c: c != text[position]))
    headers["X-WAHooks-Timestamp"] = text[:position] + digit + text[position + 1 :]

    with pytest.raises(InvalidSignature):
        verify_signature(b"{}", headers, SECRET, tolerance=None)


@given(data=st.data())
def test_any_changed_signature_character_fails(data: st.DataObject) -> None:
    headers = headers_for(b"{}")
    text = headers["X-WAHooks-Signature"]
    position = data.draw(st.integers(0, len(text) - 1))
    other = data.draw(st.sampled_from(string.printable).filter(lambda c: c != text[position]))
    headers["X-WAHooks-Signature"] = text[:position] + other + text[position + 1 :]

    with pytest.raises(InvalidSignature):
        verify_signature(b"{}", headers, SECRET, now=NOW)


def test_wrong_secret_fails_with_default_message() -> None:
    with pytest.raises(InvalidSignature) as raised:
        verify_signature(b"{}", headers_for(b"{}"), signing_secret(), now=NOW)

    assert str(raised.value) == InvalidSignature.__doc__


@given(timestamp=timestamps, skew=st.integers(301, 10**9), ahead=st.booleans())
def test_timestamps_beyond_tolerance_fail(timestamp: int, skew: int, ahead: bool) -> None:
    now = timestamp - skew if ahead else timestamp + skew

    with pytest.raises(TimestampOutsideTolerance):
        verify_signature(b"{}", headers_for(b"{}", timestamp), SECRET, now=now)


@given(timestamp=timestamps, skew=st.integers(-300, 300))
def test_timestamps_within_tolerance_pass(timestamp: int, skew: int) -> None:
    verify_signature(b"{}", headers_for(b"{}", timestamp), SECRET, now=timestamp + skew)


@pytest.mark.parametrize(
    ("now", "tolerance", "accepted"),
    [
        (NOW + 300.999, 300, True),  # whole seconds: 300.999 s is 300 s
        (NOW + 301, 300, False),
        (NOW - 300, 300, True),
        (NOW - 300.5, 300, False),  # floor(now) is 301 s before the timestamp
        (NOW + 0.9, 0, True),  # 0 accepts the current second only
        (NOW + 1, 0, False),
        (NOW + 10**9, None, True),  # None turns the check off
        (0, None, True),
    ],
)
def test_tolerance_boundaries(now: float, tolerance: int | None, accepted: bool) -> None:
    headers = headers_for(b"{}", NOW)

    if accepted:
        verify_signature(b"{}", headers, SECRET, tolerance=tolerance, now=now)
    else:
        with pytest.raises(TimestampOutsideTolerance, match="tolerance"):
            verify_signature(b"{}", headers, SECRET, tolerance=tolerance, now=now)


def test_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        verify_signature(b"{}", headers_for(b"{}"), SECRET, tolerance=-1, now=NOW)


def test_default_now_is_the_clock() -> None:
    verify_signature(b"{}", headers_for(b"{}", int(time.time())), SECRET)
    with pytest.raises(TimestampOutsideTolerance):
        verify_signature(b"{}", headers_for(b"{}", NOW - 10**6), SECRET)


@pytest.mark.parametrize("missing", [["X-WAHooks-Signature"], ["X-WAHooks-Timestamp"], []])
def test_missing_headers_raise(missing: list[str]) -> None:
    headers = {k: v for k, v in headers_for(b"{}").items() if k in missing}

    with pytest.raises(MissingSignatureHeaders) as raised:
        verify_signature(b"{}", headers, SECRET, now=NOW)

    assert "lacks a usable" in str(raised.value)


@pytest.mark.parametrize("timestamp", ["", "-1", " 1790000000", "1790000000.0", "１７９０"])
def test_timestamps_that_are_not_unix_seconds_raise(timestamp: str) -> None:
    headers = headers_for(b"{}") | {"X-WAHooks-Timestamp": timestamp}

    with pytest.raises(MissingSignatureHeaders, match="not unix seconds"):
        verify_signature(b"{}", headers, SECRET, now=NOW)


def test_errors_share_one_root() -> None:
    for error in (MissingSignatureHeaders, InvalidSignature, TimestampOutsideTolerance):
        assert issubclass(error, SignatureVerificationError)
        assert str(error()) == (error.__doc__ or "").strip()


@pytest.mark.parametrize("spell", [str.lower, str.upper, str.title])
def test_header_names_are_case_insensitive_in_a_dict(spell: Any) -> None:
    headers = {spell(k): v for k, v in headers_for(b"{}").items()}

    verify_signature(b"{}", headers, SECRET, now=NOW)


def test_werkzeug_and_starlette_headers_are_accepted() -> None:
    headers = headers_for(b"{}")
    asgi_raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    verify_signature(b"{}", WerkzeugHeaders(headers), SECRET, now=NOW)
    verify_signature(b"{}", StarletteHeaders(raw=asgi_raw), SECRET, now=NOW)


def test_a_flask_receiver_verifies_the_raw_body() -> None:
    # The Flask example on the product page, with this module in place of its hand-written HMAC.
    app = Flask(__name__)

    @app.post("/hook")
    def hook() -> tuple[str, int]:
        try:
            verify_signature(request.get_data(), request.headers, SECRET, tolerance=None)
        except SignatureVerificationError as error:
            return str(error), 401
        return "ok", 200

    body = '{"event":"message","payload":{"body":"olá 👋"}}'.encode()
    client = app.test_client()
    good = client.post("/hook", data=body, headers=headers_for(body))
    bad = client.post("/hook", data=body + b" ", headers=headers_for(body))

    assert (good.status_code, bad.status_code) == (200, 401)
