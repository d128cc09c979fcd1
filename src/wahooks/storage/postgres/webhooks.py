"""Webhooks: where a connection's events go."""

from __future__ import annotations

from typing import Any

from wahooks.errors import NotFound
from wahooks.models import (
    Ordering,
    Webhook,
)
from wahooks.storage.postgres.database import (
    NOW as _NOW,
)
from wahooks.storage.postgres.database import (
    PostgresDatabase,
)
from wahooks.storage.postgres.retention import delete_orphan_events
from wahooks.storage.postgres.sql import SQL
from wahooks.storage.rows import (
    WEBHOOK_COLUMNS,
    webhook_row,
)


class PostgresWebhooks:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_webhook(self, webhook: Webhook) -> None:
        w = webhook
        await self._db.run(lambda c: c.execute(
            f"INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
            " $11, $12)",
            w.id, w.user_id, w.connection_id, w.url, list(w.events), w.signing_secret, w.active,
            w.created_at, w.updated_at, w.previous_secret, w.previous_secret_expires_at,
            w.ordering.value,
        ))

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        row = await self._db.run(lambda c: c.fetchrow(
            f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1", webhook_id
        ))
        return None if row is None else webhook_row(row)

    async def list_webhooks(self, connection_id: str) -> list[Webhook]:
        rows = await self._db.run(lambda c: c.fetch(
            f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE connection_id = $1 ORDER BY id",
            connection_id,
        ))
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
        # Deliveries already in a chat's line still go one after another: only events accepted
        # from now on are ordered, or not (docs/delivery.md).
        row = await self._db.run(lambda c: c.fetchrow(
            "UPDATE webhooks SET url = coalesce($2, url), events = coalesce($3, events),"
            f" active = coalesce($4, active), ordering = coalesce($5, ordering),"
            f" updated_at = {_NOW} WHERE id = $1 RETURNING {WEBHOOK_COLUMNS}",
            webhook_id, url, None if events is None else list(events), active,
            None if ordering is None else ordering.value,
        ))
        if row is None:
            raise NotFound("Webhook config not found")
        return webhook_row(row)

    async def rotate_secret(self, webhook_id: str, secret: str, previous_expires_at: int) -> Webhook:
        """Sign with `secret` from now on; the secret it replaces keeps signing until
        `previous_expires_at` (Unix ms). NotFound if the webhook is gone."""
        row = await self._db.run(lambda c: c.fetchrow(
            SQL["rotate_secret"], webhook_id, secret, previous_expires_at
        ))
        if row is None:
            raise NotFound("Webhook config not found")
        return webhook_row(row)

    async def delete_webhook(self, webhook_id: str) -> None:
        async def work(c: Any) -> None:
            await c.fetchval(SQL["delete_webhook_deliveries"], webhook_id)
            await c.execute("DELETE FROM webhooks WHERE id = $1", webhook_id)
            await delete_orphan_events(c)

        await self._db.run(work, transaction=True)
