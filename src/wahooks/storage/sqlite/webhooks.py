"""Webhooks: where a connection's events go."""

from __future__ import annotations

import sqlite3

import orjson

from wahooks.clock import now_ms
from wahooks.errors import NotFound
from wahooks.models import (
    Ordering,
    Webhook,
    WebhookHealth,
)
from wahooks.storage.records import WebhookStateChange
from wahooks.storage.rows import (
    WEBHOOK_COLUMNS,
    webhook_health_row,
    webhook_row,
)
from wahooks.storage.sqlite.active_webhooks import ActiveWebhooks
from wahooks.storage.sqlite.database import SqliteDatabase
from wahooks.storage.sqlite.lines import rejoin
from wahooks.storage.sqlite.retention import delete_deliveries, delete_orphan_events
from wahooks.storage.sqlite.sql import SQL
from wahooks.storage.webhook_changes import WebhookChanges


class SqliteWebhooks:
    def __init__(
        self, db: SqliteDatabase, active: ActiveWebhooks, changes: WebhookChanges
    ) -> None:
        self.db = db
        self._active = active
        self._changes = changes

    async def create_webhook(self, webhook: Webhook) -> None:
        w = webhook

        def work(conn: sqlite3.Connection) -> None:
            self._active.forget()
            conn.execute(
                f"INSERT INTO webhooks ({WEBHOOK_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (w.id, w.user_id, w.connection_id, w.url, orjson.dumps(list(w.events)).decode(),
                 w.signing_secret, int(w.active), w.created_at, w.updated_at, w.previous_secret,
                 w.previous_secret_expires_at,
                 None if w.disabled_reason is None else w.disabled_reason.value, w.disabled_at,
                 w.ordering.value),
            )

        await self.db.write(work)

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?", (webhook_id,)
            ).fetchone()
        )
        return None if row is None else webhook_row(row)

    async def list_webhooks(self, connection_id: str) -> list[Webhook]:
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE connection_id = ? ORDER BY id",
                (connection_id,),
            ).fetchall()
        )
        return [webhook_row(row) for row in rows]

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: tuple[str, ...] | None = None,
        active: bool | None = None,
        ordering: Ordering | None = None,
    ) -> Webhook:
        """Change what is given. Setting `active` either way ends a disable by wahooks; setting it
        to True also releases the held deliveries (replay, in event order), in the same write,
        so no event arriving meanwhile is held after the release."""
        assignments: list[str] = ["updated_at = ?"]
        values: list[object] = [now_ms()]
        if url is not None:
            assignments.append("url = ?")
            values.append(url)
        if events is not None:
            assignments.append("events = ?")
            values.append(orjson.dumps(list(events)).decode())
        if active is not None:
            assignments.append("active = ?")
            values.append(int(active))
            assignments.append("disabled_reason = NULL, disabled_at = NULL")
        if active:
            # A fresh start: the streak that disabled it is over.
            assignments.append("consecutive_dead_letters = 0, failing_since = NULL")
        if ordering is not None:
            # Deliveries already in a chat's line still go one after another: only events
            # accepted from now on are ordered, or not (docs/delivery.md).
            assignments.append("ordering = ?")
            values.append(ordering.value)

        def work(conn: sqlite3.Connection) -> tuple[Webhook, WebhookStateChange | None]:
            self._active.forget()
            before = conn.execute(
                "SELECT disabled_reason FROM webhooks WHERE id = ?", (webhook_id,)
            ).fetchone()
            row = conn.execute(
                f"UPDATE webhooks SET {', '.join(assignments)} WHERE id = ?"
                f" RETURNING {WEBHOOK_COLUMNS}",
                (*values, webhook_id),
            ).fetchone()
            if row is None:
                raise NotFound("Webhook config not found")
            webhook = webhook_row(row)
            replayed = _replay_held(conn, webhook_id) if active else 0
            was_disabled = before is not None and before[0] is not None
            if not active or not (was_disabled or replayed):
                return webhook, None
            return webhook, WebhookStateChange(
                webhook.id, webhook.user_id, webhook.connection_id, None, None, replayed
            )

        webhook, change = await self.db.write(work)
        if change is not None:
            self._changes.emit([change])
        return webhook

    async def webhook_health(self, webhook_id: str, since: int) -> WebhookHealth | None:
        """The webhook's health; the success rate counts attempts started at or after `since`."""

        def work(conn: sqlite3.Connection) -> WebhookHealth | None:
            row = conn.execute(SQL["webhook_health"], (webhook_id,)).fetchone()
            if row is None:
                return None
            attempts = conn.execute(SQL["attempts_since"], (webhook_id, since)).fetchone()
            (held,) = conn.execute(SQL["held_count"], (webhook_id,)).fetchone()
            return webhook_health_row(row, attempts, held)

        return await self.db.read(work)

    async def rotate_secret(self, webhook_id: str, secret: str, previous_expires_at: int) -> Webhook:
        """Sign with `secret` from now on; the secret it replaces keeps signing until
        `previous_expires_at` (Unix ms). NotFound if the webhook is gone."""

        def work(conn: sqlite3.Connection) -> Webhook:
            self._active.forget()
            row = conn.execute(
                SQL["rotate_secret"], (secret, previous_expires_at, now_ms(), webhook_id)
            ).fetchone()
            if row is None:
                raise NotFound("Webhook config not found")
            return webhook_row(row)

        return await self.db.write(work)

    async def delete_webhook(self, webhook_id: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._active.forget()
            delete_deliveries(
                conn, conn.execute(SQL["webhook_deliveries"], (webhook_id,)).fetchall()
            )
            conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))
            delete_orphan_events(conn)

        await self.db.write(work)


def _replay_held(conn: sqlite3.Connection, webhook_id: str) -> int:
    """Release the webhook's held deliveries: due 1 ms apart in event order, all in the past, so
    claims (oldest due first) take them in that order; a new cycle with trigger `replay`. Those
    of an ordered webhook go one after another in each chat, as any ordered deliveries."""
    rows = conn.execute(SQL["held_in_event_order"], (webhook_id,)).fetchall()
    now = now_ms()
    first = now - len(rows)
    conn.executemany(
        SQL["replay_one"], [(first + rank, row[0]) for rank, row in enumerate(rows)]
    )
    # Those of an ordered webhook join the end of their chats' lines, in event order, and wait
    # their turn there (sqlite/lines.py).
    rejoin(conn, webhook_id, rows, now)
    return len(rows)
