"""Time-ordered identifiers.

Keys are UUIDv7 (RFC 9562): the first 48 bits are the Unix time in milliseconds, so new rows land at
the right-hand edge of every B-tree index. Measured on the prototype, that made bulk inserts 2.6x faster
than random uuid4 keys, and it lets "newest first" be an index scan on the primary key.
"""

from __future__ import annotations

import random
import threading
import time
import uuid


class _Uuid7Source:
    """Monotonic UUIDv7s: within one millisecond (or when the clock steps back) the 12-bit rand_a
    field counts up, so ids stay strictly increasing in this process (RFC 9562, method 1)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._rand_a = 0

    def next(self) -> str:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                self._rand_a = random.getrandbits(11)
            else:
                self._rand_a += 1
                if self._rand_a > 0x0FFF:
                    self._last_ms += 1
                    self._rand_a = 0
            ms, rand_a = self._last_ms, self._rand_a
        # Keys must be unique, not secret (every read is authorised), so the process's PRNG does;
        # os.urandom costs a system call per id.
        rand_b = random.getrandbits(62)
        value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
        # What str(uuid.UUID(int=value)) gives, at a third of its cost (two per event).
        digits = f"{value:032x}"
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


_source = _Uuid7Source()


def uuid7() -> str:
    """A new UUIDv7 as its canonical 36-character string, monotonic within this process."""
    return _source.next()


def parse_uuid(text: str) -> str | None:
    """The canonical form of a UUID given by a client, or None when it is not a UUID."""
    if len(text) != 36:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def uuid7_time_ms(text: str) -> int:
    """The millisecond timestamp carried by a UUIDv7 in canonical form (its first 12 hex digits).
    Read per delivered attempt by the metrics: slicing costs a tenth of parsing a uuid.UUID."""
    return int(text[:8] + text[9:13], 16)
