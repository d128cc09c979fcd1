"""Webhooks: where a connection's events go."""

from __future__ import annotations

from typing import Any

import asyncpg

from wahooks.errors import NotFound
from wahooks.models import (
    Ordering,
    Webhook,
    WebhookHealth,
)
from wahooks.storage.postgres.database import (
    DUE_CHANNEL,
    WEBHOOK_STATE_CHANNEL,
    PostgresDatabase,
)
from wahooks.storage.postgres.lines import lock_webhook_lines, rejoin
from wahooks.storage.postgres.retention import delete_orphan_events
from wahooks.storage.postgres.sql import SQL
from wahooks.storage.records import WebhookStateChange
from wahooks.storage.rows import (
    WEBHOOK_COLUMNS,
    webhook_health_row,
    webhook_row,
)
from wahooks.storage.webhook_changes import ChangeListener, WebhookChanges, decode, encode


class PostgresWebhooks:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_webhook(self, webhook: Webhook) -> None:
        w = webhook
        await self._db.run(lambda c: c.execute(
            f"INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
            " $11, $12, $13, $14)",
            w.id, w.user_id, w.connection_id, w.url, list(w.events), w.signing_secret, w.active,
            w.created_at, w.updated_at, w.previous_secret, w.previous_secret_expires_at,
            None if w.disabled_reason is None else w.disabled_reason.value, w.disabled_at,
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
        """Change what is given. Setting `active` either way ends a disable by wahooks; setting it
        to True also releases the held deliveries (replay, in event order) in the same
        transaction, which holds the webhook's lock: an ingest batch holding deliveries for it
        either saw the enable or is released by it (`still_disabled`). Ordering applies to events
        accepted from now on: deliveries already in a chat's line still go one after another."""

        async def work(c: Any) -> Webhook:
            if active:
                # Replay joins ordered deliveries to their chats' lines: every line of the webhook
                # first, then its row, the order every writer takes them in (postgres/lines.py).
                await lock_webhook_lines(c, webhook_id)
            before = await c.fetchrow(SQL["lock_webhook"], webhook_id)
            if before is None:
                raise NotFound("Webhook config not found")
            row = await c.fetchrow(
                SQL["update_webhook"], webhook_id, url,
                None if events is None else list(events), active,
                None if ordering is None else ordering.value,
            )
            webhook = webhook_row(row)
            replayed = 0
            if active:
                released = await c.fetch(SQL["replay_held"], webhook_id)
                replayed = len(released)
                if released:
                    await rejoin(c, webhook_id, released)
                    await c.execute(f"NOTIFY {DUE_CHANNEL}")
            if active and (before[0] is not None or replayed):
                change = WebhookStateChange(
                    webhook.id, webhook.user_id, webhook.connection_id, None, None, replayed
                )
                await c.execute("SELECT pg_notify($1, $2)", WEBHOOK_STATE_CHANNEL, encode(change))
            return webhook

        return await self._db.run(work, transaction=True)

    async def webhook_health(self, webhook_id: str, since: int) -> WebhookHealth | None:
        """The webhook's health; the success rate counts attempts started at or after `since`."""

        async def work(c: Any) -> WebhookHealth | None:
            row = await c.fetchrow(SQL["webhook_health"], webhook_id)
            if row is None:
                return None
            attempts = await c.fetchrow(SQL["attempts_since"], webhook_id, since)
            held = await c.fetchval(SQL["held_count"], webhook_id)
            return webhook_health_row(row, attempts, held)

        return await self._db.run(work)

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

        # It locks the webhook's deliveries, then the webhook; an outcome batch with a failure
        # locks the webhook, then its deliveries. When the two meet, PostgreSQL cancels one
        # whole transaction; the outcome writer writes its batch again, and so does this.
        for attempt in range(_DEADLOCK_TRIES):
            try:
                await self._db.run(work, transaction=True)
                return
            except asyncpg.DeadlockDetectedError:
                if attempt == _DEADLOCK_TRIES - 1:
                    raise


_DEADLOCK_TRIES = 3


class PostgresWebhookChanges(WebhookChanges):
    """The changes any process makes reach this process's listeners: the stores NOTIFY them in
    the transaction that makes them; LISTEN starts with the first listener (API processes)."""

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__()
        self._db = db
        self._listening = False

    def listen(self, listener: ChangeListener) -> None:
        super().listen(listener)
        if not self._listening:
            self._listening = True
            self._db.listen(WEBHOOK_STATE_CHANNEL, lambda payload: self.emit([decode(payload)]))
