"""Per-chat ordering on PostgreSQL: each ordered webhook's deliveries of one chat stand in a line,
and only the first pending one of a line is ever due (docs/delivery.md). The statements are in
postgres/queries.sql, beside SQLite's (sqlite/lines.py keeps the same invariant on one writer).

The invariant, kept by every write that touches a line: of a line's pending deliveries, the one
with the lowest order_seq is the only one that may be due or leased; the others wait with no
next_attempt_at, outside the due index, so claims stay as cheap as unordered ones however deep a
line is. A delivery joins a line at its end (ingest, redelivery, recovery), and the outcome that
ends the first one's turn (delivered or dead letter) makes the next one due.

Several processes write lines at once, so each such transaction first takes the locks of the lines
it touches (transaction-scoped advisory locks): a process then sees every commit made before it got
them, and "is the line busy, where does it end" cannot change under it. That is also what makes
event order the order in which events were acknowledged per chat, whichever API process took them.
Writers of single lines (ingest, outcomes) share a per-webhook lock and then take each line's own;
writers of a whole webhook (redelivery, recovery) take the per-webhook lock alone, exclusively.
Every transaction takes its locks in one order (webhooks, then lines, each sorted by key), so
they never deadlock. Claims and lease recovery take no lock: they only ever touch a line's first
delivery, and leave it first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from typing import Any

from wahooks.storage.postgres.sql import SQL

Line = tuple[str, str]  # (webhook id, order key: chats.line_key)

# The namespace of the per-webhook locks (the two-int advisory keys, which never collide with the
# bigint keys of the line locks nor of the migration and retention locks).
WEBHOOK_LINES = 0x6C696E65  # "line"


def _webhook_key(webhook_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(webhook_id.encode(), digest_size=4).digest(), "big",
                          signed=True)


def _line_key(line: Line) -> int:
    digest = hashlib.blake2b(line[1].encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_lines(c: Any, lines: Collection[Line]) -> None:
    """Hold these lines until the transaction ends (shared per webhook, then each line)."""
    webhooks = sorted({_webhook_key(webhook_id) for webhook_id, _ in lines})
    await c.fetch(
        SQL["lock_lines"], WEBHOOK_LINES, webhooks, sorted({_line_key(line) for line in lines})
    )


async def lock_webhook_lines(c: Any, webhook_id: str) -> None:
    """Hold every line of one webhook until the transaction ends."""
    await c.execute(SQL["lock_webhook_lines"], WEBHOOK_LINES, _webhook_key(webhook_id))


async def line_states(c: Any, lines: Collection[Line]) -> dict[Line, tuple[int, bool]]:
    """Per line (locked): the last place taken (0 when empty) and whether it is busy."""
    webhooks = {key: webhook_id for webhook_id, key in lines}
    rows = await c.fetch(SQL["line_states"], list(webhooks))
    return {(webhooks[r[0]], r[0]): (int(r[1] or 0), bool(r[2])) for r in rows}


async def let_next_go(c: Any, lines: Collection[Line]) -> int:
    """Make the first pending delivery of each (locked) line due, where it was waiting, and tell
    every dispatcher; how many were."""
    return int(await c.fetchval(SQL["lines_next_due"], [key for _, key in lines]))


async def lease_next(c: Any, lines: Collection[Line], lease_ms: int) -> list[Any]:
    """As `let_next_go`, but each (locked) line's first pending delivery, where it was waiting, is
    leased at once for the dispatcher whose outcome ended the turn: claim_due's rows."""
    return list(await c.fetch(SQL["lines_next_leased"], [key for _, key in lines], lease_ms))


async def rejoin(c: Any, webhook_id: str, rows: Iterable[Any]) -> int:
    """Deliveries of one webhook (whose lines are locked) just made pending again, as rows (id,
    order key, place): the ordered ones go to the end of their lines, keeping their order among
    themselves, and wait their turn. How many lines let one go at once."""
    by_line: dict[str, list[tuple[int, str]]] = {}
    for id_, key, place in rows:
        if key is not None:
            by_line.setdefault(key, []).append((place or 0, str(id_)))
    if not by_line:
        return 0
    lines = [(webhook_id, key) for key in by_line]
    states = await line_states(c, lines)
    ids, places = [], []
    for key, members in by_line.items():
        last = states[(webhook_id, key)][0]
        for rank, (_, id_) in enumerate(sorted(members), start=1):
            ids.append(id_)
            places.append(last + rank)
    await c.execute(SQL["lines_rejoin"], ids, places)
    return await let_next_go(c, lines)
