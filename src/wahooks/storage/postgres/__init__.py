"""Every aggregate on PostgreSQL (asyncpg): many API and worker processes, one database.

See `wahooks.storage.postgres.database` for what differs from SQLite and why.
"""

from __future__ import annotations

from wahooks.storage.postgres.accounts import PostgresAccounts
from wahooks.storage.postgres.connections import PostgresConnections
from wahooks.storage.postgres.database import PostgresDatabase, split_schema
from wahooks.storage.postgres.deliveries import PostgresDeliveries
from wahooks.storage.postgres.live import PostgresLive
from wahooks.storage.postgres.processes import PostgresProcesses
from wahooks.storage.postgres.queue import PostgresQueue
from wahooks.storage.postgres.retention import PostgresRetention
from wahooks.storage.postgres.waha_sessions import PostgresWahaSessions
from wahooks.storage.postgres.webhooks import PostgresWebhookChanges, PostgresWebhooks

__all__ = ["PostgresStorage", "split_schema"]


class PostgresStorage:
    single_process = False
    """Other processes share the database: leases, advisory locks and NOTIFY coordinate them."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.database = PostgresDatabase(url, pool_size=pool_size)
        self.accounts = PostgresAccounts(self.database)
        self.connections = PostgresConnections(self.database)
        self.webhooks = PostgresWebhooks(self.database)
        self.deliveries = PostgresDeliveries(self.database)
        self.queue = PostgresQueue(self.database)
        self.retention = PostgresRetention(self.database)
        self.processes = PostgresProcesses(self.database)
        self.waha_sessions = PostgresWahaSessions(self.database)
        self.live: PostgresLive | None = PostgresLive(self.database)
        self.webhook_changes = PostgresWebhookChanges(self.database)

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def ping(self) -> None:
        await self.database.ping()
