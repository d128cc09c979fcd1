"""Each connection's active webhooks, cached on the writer thread for ingest."""

from __future__ import annotations

import sqlite3

import orjson

from wahooks.models import Ordering
from wahooks.storage.sqlite.sql import SQL
from wahooks.storage.subscriptions import Subscriber


class ActiveWebhooks:
    """Each connection's active webhooks, as the writer thread sees them, so that ingest does not
    query and parse them per event. Only the writer thread reads or changes this, and every
    webhook write runs on that thread and clears it (one process owns the file), so it is exact;
    a failed commit clears it too."""

    def __init__(self) -> None:
        self._by_connection: dict[str, list[Subscriber]] = {}

    def of(self, conn: sqlite3.Connection, connection_id: str) -> list[Subscriber]:
        found = self._by_connection.get(connection_id)
        if found is None:
            found = self._by_connection[connection_id] = [
                Subscriber(id_, url, secret, frozenset(orjson.loads(events)), previous, expires_at,
                           account_id, bool(held), ordering == Ordering.CHAT)
                for id_, url, secret, events, previous, expires_at, account_id, held, ordering
                in conn.execute(
                    SQL["active_webhooks"], (connection_id,)
                )
            ]
        return found

    def forget(self) -> None:
        self._by_connection.clear()
