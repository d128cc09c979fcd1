"""Webhooks: where a connection's events go."""

from __future__ import annotations

import sqlite3

import orjson

from wahooks.clock import now_ms
from wahooks.errors import NotFound
from wahooks.models import (
    Ordering,
    Webhook,
)
from wahooks.storage.rows import (
    WEBHOOK_COLUMNS,
    webhook_row,
)
from wahooks.storage.sqlite.active_webhooks import ActiveWebhooks
from wahooks.storage.sqlite.database import SqliteDatabase
from wahooks.storage.sqlite.retention import delete_deliveries, delete_orphan_events
from wahooks.storage.sqlite.sql import SQL


class SqliteWebhooks:
    def __init__(self, db: SqliteDatabase, active: ActiveWebhooks) -> None:
        self.db = db
        self._active = active

    async def create_webhook(self, webhook: Webhook) -> None:
        w = webhook

        def work(conn: sqlite3.Connection) -> None:
            self._active.forget()
            conn.execute(
                f"INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (w.id, w.user_id, w.connection_id, w.url, orjson.dumps(list(w.events)).decode(),
                 w.signing_secret, int(w.active), w.created_at, w.updated_at, w.previous_secret,
                 w.previous_secret_expires_at, w.ordering.value),
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
        if ordering is not None:
            # Deliveries already in a chat's line still go one after another: only events
            # accepted from now on are ordered, or not (docs/delivery.md).
            assignments.append("ordering = ?")
            values.append(ordering.value)

        def work(conn: sqlite3.Connection) -> Webhook:
            self._active.forget()
            row = conn.execute(
                f"UPDATE webhooks SET {', '.join(assignments)} WHERE id = ?"
                f" RETURNING {WEBHOOK_COLUMNS}",
                (*values, webhook_id),
            ).fetchone()
            if row is None:
                raise NotFound("Webhook config not found")
            return webhook_row(row)

        return await self.db.write(work)

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
