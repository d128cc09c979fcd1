"""Named SQL queries, one `queries.sql` file per dialect (as procrastinate's `sql/queries.sql`), so
that the SQLite and PostgreSQL versions of a statement can be read side by side.

A query starts at a line `-- name: <name>`; the comment lines right after it say why it reads as it
does, and everything up to the next name is its text.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

_MARK = "-- name:"


def load_queries(package: str) -> Mapping[str, str]:
    """The queries in `package`'s queries.sql, by name (an unknown name is a KeyError)."""
    text = resources.files(package).joinpath("queries.sql").read_text("utf-8")
    return MappingProxyType(parse_queries(text))


def parse_queries(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(_MARK):
            _add(found, name, lines)
            name, lines = line.removeprefix(_MARK).strip(), []
        elif name is not None and (lines or not line.startswith("--")):
            lines.append(line)
    _add(found, name, lines)
    return found


def _add(found: dict[str, str], name: str | None, lines: list[str]) -> None:
    if name is None:
        return
    if name in found:
        raise ValueError(f"query {name!r} is named twice")
    found[name] = "\n".join(lines).strip().removesuffix(";").strip()
