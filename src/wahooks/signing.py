"""Signing deliveries and verifying them on the receiving end.

A delivery carries `X-WAHooks-Timestamp` (unix seconds) and `X-WAHooks-Signature`, which is
"sha256=" followed by the lower-case hex HMAC-SHA256 of "{timestamp}.{body}" keyed with the
webhook's signing secret, the scheme of the original WAHooks. Signing the timestamp along with the
body lets a receiver refuse old requests replayed by whoever captured them.

Every delivery also carries the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
`webhook-signature`), and after a secret rotation the secret replaced keeps signing for an overlap:
docs/signatures.md says which secret signs which header and why.

Pure and standard library only: the sender uses it, and so does the SDK, which must import no
server dependency.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = [
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "STANDARD_ID_HEADER",
    "STANDARD_SIGNATURE_HEADER",
    "STANDARD_TIMESTAMP_HEADER",
    "TIMESTAMP_HEADER",
    "HeaderItems",
    "InvalidSignature",
    "MissingSignatureHeaders",
    "SignatureVerificationError",
    "TimestampOutsideTolerance",
    "signature",
    "signed_headers",
    "signing_secret",
    "standard_signature",
    "standard_webhooks_secret",
    "verify_signature",
]

EVENT_HEADER = "X-WAHooks-Event"
SIGNATURE_HEADER = "X-WAHooks-Signature"
TIMESTAMP_HEADER = "X-WAHooks-Timestamp"
# Standard Webhooks (standardwebhooks.com), lower case as its libraries look them up.
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
_STANDARD_SECRET_PREFIX = "whsec_"


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


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `webhook-signature` entry: "v1," and the base64 HMAC-SHA256 of "{id}.{timestamp}.{body}".

    Keyed with the secret's UTF-8 bytes, the same key as X-WAHooks-Signature, so one secret serves
    both schemes; a Standard Webhooks library gets it as `standard_webhooks_secret(secret)`.
    """
    message = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_webhooks_secret(secret: str) -> str:
    """The secret as Standard Webhooks libraries take it: "whsec_" and the base64 of its key.

    Their libraries base64-decode what follows "whsec_" to get the HMAC key; our key is the
    secret's UTF-8 text (as the product page's examples use it), so that text is what is encoded.
    """
    return _STANDARD_SECRET_PREFIX + base64.b64encode(secret.encode()).decode()


def signed_headers(
    secret: str,
    event_type: str,
    body: bytes,
    timestamp: int,
    *,
    message_id: str | None = None,
    previous_secret: str | None = None,
) -> dict[str, str]:
    """The headers that go with a delivery of `body`.

    `previous_secret` is the secret a rotation replaced, while its overlap lasts: it signs
    X-WAHooks-Signature, which receivers compare whole and so can carry one signature only, so
    that receivers not yet given the new secret keep verifying; `webhook-signature` carries both.
    With `message_id` (the delivery's id, the same for all its attempts) the Standard Webhooks
    headers are added.
    """
    legacy_secret = secret if previous_secret is None else previous_secret
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(legacy_secret, timestamp, body),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_HEADER: event_type,
    }
    if message_id is not None:
        active = (secret,) if previous_secret is None else (secret, previous_secret)
        headers[STANDARD_ID_HEADER] = message_id
        headers[STANDARD_TIMESTAMP_HEADER] = str(timestamp)
        headers[STANDARD_SIGNATURE_HEADER] = " ".join(
            standard_signature(one, message_id, timestamp, body) for one in active
        )
    return headers


def verify_signature(
    body: bytes | str,
    headers: HeaderItems,
    secret: str | Sequence[str],
    tolerance: int | None = 300,
    now: float | None = None,
) -> None:
    """Raise a SignatureVerificationError unless `body` and `headers` were signed with `secret`,
    or with any one of the secrets given as a list (during a rotation: the old and the new).

    A secret verifies when X-WAHooks-Signature matches it or when one of the `webhook-signature`
    entries does: during a rotation's overlap X-WAHooks-Signature is still the old secret's, and
    the new secret's signature travels in `webhook-signature` (docs/signatures.md), so a receiver
    given only the new secret verifies too.

    `body` is the raw request body, before any JSON parsing. The timestamp must lie within
    `tolerance` whole seconds of `now` (default: the current time) in either direction: behind
    it for replayed requests, ahead of it for a clock running fast. `tolerance=None` turns the
    check off, for verifying archived requests; `tolerance=0` is not "off", it accepts only the
    current second, so a mistaken 0 fails closed.
    """
    candidates = [secret] if isinstance(secret, str) else list(secret)
    if not candidates:
        raise ValueError("give at least one secret")
    provided = _header(headers, SIGNATURE_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    standard = _header(headers, STANDARD_SIGNATURE_HEADER)
    message_id = _header(headers, STANDARD_ID_HEADER)
    if timestamp is None:
        timestamp = _header(headers, STANDARD_TIMESTAMP_HEADER)
    if (provided is None and (standard is None or message_id is None)) or timestamp is None:
        raise MissingSignatureHeaders()
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise MissingSignatureHeaders(f"{TIMESTAMP_HEADER} is not unix seconds: {timestamp!r}")
    raw = body.encode() if isinstance(body, str) else body
    # Every secret is tried (a list, not any()), so the time taken does not tell which one
    # matched, as the JS SDK's verifySignature does.
    matches = [_matches(one, timestamp, raw, provided, standard, message_id) for one in candidates]
    if not any(matches):
        raise InvalidSignature()
    # Checked only once the signature holds, so this error means "authentic but stale", which
    # points at clock skew or a replay rather than at a wrong secret.
    if tolerance is not None:
        _check_age(int(timestamp), tolerance, time.time() if now is None else now)


def _matches(
    secret: str,
    timestamp: str,
    body: bytes,
    provided: str | None,
    standard: str | None,
    message_id: str | None,
) -> bool:
    # HMAC the timestamp text as received, as the Express and Flask receivers do, so this
    # accepts exactly what they accept.
    if provided is not None and hmac.compare_digest(
        _signature(secret, timestamp, body).encode(), provided.encode("utf-8", "surrogatepass")
    ):
        return True
    if standard is None or message_id is None:
        return False
    message = f"{message_id}.{timestamp}.".encode("utf-8", "surrogatepass") + body
    expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    return any(
        hmac.compare_digest(expected, entry[3:].encode("utf-8", "surrogatepass"))
        for entry in standard.split(" ") if entry.startswith("v1,")
    )


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
