"""The subscription rule, applied at ingest by both backends: a webhook gets an event when it
subscribes to every event (`*`) or to that event's exact name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EVERY_EVENT = "*"


@dataclass(frozen=True, slots=True)
class Subscriber:
    """An active webhook as ingest needs it: where to send, how to sign, what it subscribes to."""

    webhook_id: str
    url: str
    signing_secret: str
    events: frozenset[str]
    previous_secret: str | None = None  # during a rotation's overlap (docs/signatures.md)
    previous_secret_expires_at: int | None = None
    account_id: str = ""  # the owner: the dispatcher shares concurrency fairly among accounts
    held: bool = False  # wahooks disabled it: its deliveries are held, not attempted
    ordered: bool = False  # per-chat ordering (docs/delivery.md)


def subscribers_to(candidates: Iterable[Subscriber], event_type: str) -> list[Subscriber]:
    """The candidates that get an event of this type, in the order given (per event on the hot
    path: the rule is inline, not a call per webhook)."""
    return [one for one in candidates if EVERY_EVENT in one.events or event_type in one.events]
