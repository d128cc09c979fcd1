"""Webhook state changes (disabled by wahooks, enabled again) as a feed the live stream listens
to, whichever process made them.

On SQLite one process does everything: the stores tell the feed once the change is committed. On
PostgreSQL a worker process may disable a webhook whose account's WebSockets are held by an API
process, so the stores send each change with NOTIFY in the transaction that makes it (delivered
only if it commits), and every process that listens hands it to its feed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import orjson

from wahooks.models import DisabledReason
from wahooks.storage.records import WebhookStateChange

log = logging.getLogger(__name__)

ChangeListener = Callable[[WebhookStateChange], None]


class WebhookChanges:
    """The listeners of this process; a listener that raises is logged and skipped."""

    def __init__(self) -> None:
        self._listeners: list[ChangeListener] = []

    def listen(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def emit(self, changes: Iterable[WebhookStateChange]) -> None:
        for change in changes:
            for listener in self._listeners:
                try:
                    listener(change)
                except Exception:
                    log.exception("webhook change listener failed", extra={
                        "action": "webhook.change", "webhook_id": change.webhook_id,
                    })


def encode(change: WebhookStateChange) -> str:
    """A NOTIFY payload (well under PostgreSQL's 8000 bytes)."""
    return orjson.dumps([
        change.webhook_id, change.user_id, change.connection_id,
        None if change.disabled_reason is None else change.disabled_reason.value,
        change.disabled_at, change.replayed,
    ]).decode()


def decode(payload: str) -> WebhookStateChange:
    webhook_id, user_id, connection_id, reason, disabled_at, replayed = orjson.loads(payload)
    return WebhookStateChange(
        str(webhook_id), str(user_id), str(connection_id),
        None if reason is None else DisabledReason(reason),
        None if disabled_at is None else int(disabled_at), int(replayed),
    )
