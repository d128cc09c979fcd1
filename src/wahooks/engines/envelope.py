"""WAHA's event envelope, for engines that make their own events (the sandbox).

Shape as in WAHA's OpenAPI `WAHAWebhook*` schemas and ../shared/fixtures/waha/: `id` ("evt_" + a
lower-case ULID), `timestamp` (ms), `event`, `session`, `metadata`, `me`, `payload`, `engine`,
`environment`.
"""

from __future__ import annotations

import random
import time
from typing import Any

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_CROCKFORD_PAIRS = [high + low for high in _CROCKFORD for low in _CROCKFORD]
_PAIR_SHIFTS = range(120, -1, -10)  # the 130 bits of a ULID's 26 characters, 10 at a time

ENGINE = "NOWEB"


def ulid() -> str:
    """A lower-case ULID: 48 bits of milliseconds then 80 random bits, Crockford base32."""
    # Event ids need uniqueness, not secrecy: the process's PRNG avoids a getrandom() system call
    # per event (measured at ~7% of the ingest path's CPU under load).
    value = (time.time_ns() // 1_000_000) << 80 | random.getrandbits(80)
    # 13 pairs of characters (10 bits each) rather than 26 single ones: half the Python steps.
    return "".join([_CROCKFORD_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def envelope(
    session: str,
    event: str,
    payload: dict[str, Any],
    *,
    me: dict[str, Any] | None,
    version: str,
    tier: str,
) -> dict[str, Any]:
    # WAHA leaves `me` out until the session is linked.
    linked = {"me": me} if me is not None else {}
    return {
        "id": "evt_" + ulid(),
        "timestamp": time.time_ns() // 1_000_000,
        "event": event,
        "session": session,
        "metadata": {},
        **linked,
        "payload": payload,
        "engine": ENGINE,
        "environment": {
            "version": version,
            "engine": ENGINE,
            "tier": tier,
            "browser": None,
            "platform": "linux/x64",
            "worker": {"id": None},
        },
    }
