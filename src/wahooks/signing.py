"""Signing deliveries and verifying them on the receiving end.

A delivery carries `X-WAHooks-Timestamp` (unix seconds) and `X-WAHooks-Signature`, which is
"sha256=" followed by the lower-case hex HMAC-SHA256 of "{timestamp}.{body}" keyed with the
webhook's signing secret, the scheme of the original WAHooks. Signing the timestamp along with the
body lets a receiver refuse old requests replayed by whoever captured them.

Pure and standard library only: the sender uses it, and so does the SDK, which must import no
server dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Iterable
from typing import Protocol

__all__ = [
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "HeaderItems",
    "InvalidSignature",
    "MissingSignatureHeaders",
    "SignatureVerificationError",
    "TimestampOutsideTolerance",
    "signature",
    "signed_headers",
    "signing_secret",
    "verify_signature",
]

EVENT_HEADER = "X-WAHooks-Event"
SIGNATURE_HEADER = "X-WAHooks-Signature"
TIMESTAMP_HEADER = "X-WAHooks-Timestamp"


class HeaderItems(Protocol):
    """Request headers: a dict, Starlette's or Werkzeug's (Flask's) headers, any `Mapping`.

    Werkzeug's headers are not a `Mapping`, so this asks only for what they all have.
    """

    def items(self) -> Iterable[tuple[str, str]]: ...


class SignatureVerificationError(Exception):
    """The webhook signature could not be verified."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class MissingSignatureHeaders(SignatureVerificationError):
    """The request lacks a usable X-WAHooks-Signature or X-WAHooks-Timestamp header."""


class InvalidSignature(SignatureVerificationError):
    """The X-WAHooks-Signature header does not match the body and timestamp."""


class TimestampOutsideTolerance(SignatureVerificationError):
    """The X-WAHooks-Timestamp is too far from the current time."""


def signing_secret() -> str:
    """A new signing secret: 64 lower-case hex characters, as the original WAHooks makes them."""
    return secrets.token_hex(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-WAHooks-Signature value for `body` sent at `timestamp` (unix seconds)."""
    if timestamp < 0:
        raise ValueError(f"timestamp must be unix seconds, not {timestamp}")
    return _signature(secret, str(timestamp), body)


def signed_headers(secret: str, event_type: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The four headers that go with a delivery of `body`."""
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_HEADER: event_type,
    }


def verify_signature(
    body: bytes | str,
    headers: HeaderItems,
    secret: str,
    tolerance: int | None = 300,
    now: float | None = None,
) -> None:
    """Raise a SignatureVerificationError unless `body` and `headers` were signed with `secret`.

    `body` is the raw request body, before any JSON parsing. The timestamp must lie within
    `tolerance` whole seconds of `now` (default: the current time) in either direction: behind
    it for replayed requests, ahead of it for a clock running fast. `tolerance=None` turns the
    check off, for verifying archived requests; `tolerance=0` is not "off", it accepts only the
    current second, so a mistaken 0 fails closed.
    """
    provided = _header(headers, SIGNATURE_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    if provided is None or timestamp is None:
        raise MissingSignatureHeaders()
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise MissingSignatureHeaders(f"{TIMESTAMP_HEADER} is not unix seconds: {timestamp!r}")
    raw = body.encode() if isinstance(body, str) else body
    # HMAC the timestamp text as received, as the Express and Flask receivers do, so this
    # accepts exactly what they accept.
    expected = _signature(secret, timestamp, raw)
    if not hmac.compare_digest(expected.encode(), provided.encode("utf-8", "surrogatepass")):
        raise InvalidSignature()
    # Checked only once the signature holds, so this error means "authentic but stale", which
    # points at clock skew or a replay rather than at a wrong secret.
    if tolerance is not None:
        _check_age(int(timestamp), tolerance, time.time() if now is None else now)


def _check_age(timestamp: int, tolerance: int, now: float) -> None:
    if tolerance < 0:
        raise ValueError(f"tolerance must be seconds >= 0 or None, not {tolerance}")
    age = math.floor(now) - timestamp
    if abs(age) > tolerance:
        when = f"{age} s old" if age > 0 else f"{-age} s in the future"
        raise TimestampOutsideTolerance(
            f"{TIMESTAMP_HEADER} is {when}, beyond the tolerance of {tolerance} s"
        )


def _signature(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _header(headers: HeaderItems, name: str) -> str | None:
    """The first value of header `name`, whatever the case of its key."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None
