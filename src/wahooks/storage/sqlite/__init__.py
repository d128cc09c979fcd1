"""Every aggregate on one SQLite file: the embedded default.

One process owns the file (the server takes a lock on it), so claims need no leases from others,
wake-ups are direct calls, and the writer thread's cache of active webhooks is exact.
"""

from __future__ import annotations

from wahooks.storage.sqlite.accounts import SqliteAccounts
from wahooks.storage.sqlite.active_webhooks import ActiveWebhooks
from wahooks.storage.sqlite.connections import SqliteConnections
from wahooks.storage.sqlite.database import SqliteDatabase
from wahooks.storage.sqlite.deliveries import SqliteDeliveries
from wahooks.storage.sqlite.processes import SqliteProcesses
from wahooks.storage.sqlite.queue import SqliteQueue
from wahooks.storage.sqlite.retention import SqliteRetention
from wahooks.storage.sqlite.waha_sessions import SqliteWahaSessions
from wahooks.storage.sqlite.webhooks import SqliteWebhooks
from wahooks.storage.webhook_changes import WebhookChanges

__all__ = ["SqliteStorage"]


class SqliteStorage:
    single_process = True
    """No other process can hold a lease on this file."""

    live = None
    """Live events need no fan-out: every WebSocket is served by this one process."""

    def __init__(self, path: str, *, synchronous: str = "NORMAL") -> None:
        active = ActiveWebhooks()
        self.database = SqliteDatabase(path, synchronous=synchronous, on_rollback=active.forget)
        self.accounts = SqliteAccounts(self.database)
        self.connections = SqliteConnections(self.database)
        self.webhook_changes = WebhookChanges()
        self.webhooks = SqliteWebhooks(self.database, active, self.webhook_changes)
        self.deliveries = SqliteDeliveries(self.database)
        self.queue = SqliteQueue(self.database, active, self.webhook_changes)
        self.retention = SqliteRetention(self.database)
        self.processes = SqliteProcesses()
        self.waha_sessions = SqliteWahaSessions(self.database)

    async def open(self) -> None:
        await self.database.start()

    async def close(self) -> None:
        await self.database.stop()

    async def ping(self) -> None:
        await self.database.read(lambda conn: conn.execute("SELECT 1").fetchone())
