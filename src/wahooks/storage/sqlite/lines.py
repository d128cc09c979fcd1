"""Per-chat ordering on SQLite: each ordered webhook's deliveries of one chat stand in a line, and
only the first pending one of a line is ever due (docs/delivery.md). The statements are in
sqlite/queries.sql; postgres/lines.py does the same under locks (here the one writer thread
serialises every write).

The invariant, kept by every write that touches a line: of a line's pending deliveries, the one
with the lowest order_seq is the only one that may be due or leased; the others wait with no
next_attempt_at. A delivery joins a line at its end (ingest, redelivery, recovery), and the
outcome that ends the first one's turn (delivered or dead letter) makes the next one due.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from wahooks.storage.sqlite.sql import SQL

Line = tuple[str, str]  # (webhook id, order key: chats.line_key)


@dataclass(slots=True)
class LineState:
    last: int  # the last place taken (0 when the line is empty)
    busy: bool  # a pending delivery stands in it: newcomers wait


def line_state(conn: sqlite3.Connection, order_key: str) -> LineState:
    last, busy = conn.execute(SQL["line_state"], (order_key,)).fetchone()
    return LineState(last or 0, bool(busy))


def let_next_go(conn: sqlite3.Connection, lines: Iterable[Line], now: int) -> None:
    """Make the first pending delivery of each line due, where it was waiting."""
    conn.executemany(SQL["line_next_due"], [(now, key) for _, key in lines])


def lease_next(
    conn: sqlite3.Connection, lines: Iterable[Line], now: int, lease_until: int
) -> list[str]:
    """As `let_next_go`, but the first pending delivery of each line, where it was waiting, is
    leased at once (for the dispatcher whose outcome ended the turn); their ids."""
    leased = []
    for _, key in lines:
        row = conn.execute(SQL["line_next_leased"], (now, lease_until, key)).fetchone()
        if row is not None:
            leased.append(str(row[0]))
    return leased


def rejoin(
    conn: sqlite3.Connection, webhook_id: str, rows: Iterable[tuple[str, str | None, int | None]],
    now: int,
) -> None:
    """Deliveries just made pending again (id, order key, place): the ordered ones go to the end
    of their lines, keeping their order among themselves, and wait their turn."""
    by_line: dict[str, list[tuple[int, str]]] = {}
    for id_, key, place in rows:
        if key is not None:
            by_line.setdefault(key, []).append((place or 0, id_))
    for key, members in by_line.items():
        last = line_state(conn, key).last
        conn.executemany(SQL["line_rejoin"], [
            (last + rank, id_) for rank, (_, id_) in enumerate(sorted(members), start=1)
        ])
    let_next_go(conn, [(webhook_id, key) for key in by_line], now)
