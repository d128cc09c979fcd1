"""Storage: one module per aggregate in each backend (sqlite/, postgres/), the records that cross
the boundary (records.py), and migrations per dialect.

The protocols each aggregate implements are declared by the code that uses it, so a caller depends
on exactly the operations it needs. What is not SQL is written once, here, and both backends use it:
the subscription rule (subscriptions.py), rows to records and delivery-log assembly (rows.py), what
retention deletes and in what order (retention.py). The SQL that matters is named in each dialect's
queries.sql (loaded by queries.py), so the two versions of a statement read side by side.
"""

from __future__ import annotations

from wahooks.config import Settings
from wahooks.storage.postgres import PostgresStorage
from wahooks.storage.sqlite import SqliteStorage

Storage = SqliteStorage | PostgresStorage

__all__ = ["PostgresStorage", "SqliteStorage", "Storage", "open_storage"]


def open_storage(settings: Settings) -> Storage:
    """The backend the database setting names: a `postgresql://` URL, or a SQLite file."""
    if settings.uses_postgres:
        return PostgresStorage(settings.database)
    return SqliteStorage(settings.sqlite_path, synchronous=settings.sqlite_synchronous.upper())
