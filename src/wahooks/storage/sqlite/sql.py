"""SQLite's named queries (sqlite/queries.sql), loaded once."""

from __future__ import annotations

from wahooks.storage.queries import load_queries

SQL = load_queries(__package__ or "wahooks.storage.sqlite")
