"""The named queries: each dialect's queries.sql parses, every name the code asks for exists, and
every query written is used (no dead SQL to keep in step with the other dialect)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from wahooks.storage.postgres.sql import SQL as POSTGRES_SQL
from wahooks.storage.queries import parse_queries
from wahooks.storage.sqlite.sql import SQL as SQLITE_SQL

STORAGE = Path(__file__).parents[2] / "src" / "wahooks" / "storage"


@pytest.mark.parametrize(("dialect", "queries"), [("sqlite", SQLITE_SQL), ("postgres", POSTGRES_SQL)])
def test_every_named_query_is_used_and_every_use_is_named(
    dialect: str, queries: Mapping[str, str]
) -> None:
    source = "\n".join(path.read_text("utf-8") for path in (STORAGE / dialect).glob("*.py"))
    asked = set(re.findall(r'SQL\["(\w+)"\]', source))
    assert asked == set(queries)


def test_queries_keep_their_text_and_drop_their_explanations() -> None:
    parsed = parse_queries(
        "-- a header\n\n-- name: one\n-- why it reads so\nSELECT 1\n  -- inline note\nFROM t;\n"
        "-- name: two\nDELETE FROM t;\n"
    )
    assert parsed == {"one": "SELECT 1\n  -- inline note\nFROM t", "two": "DELETE FROM t"}


def test_a_name_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'one' is named twice"):
        parse_queries("-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;\n")
