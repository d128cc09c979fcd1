"""The delivery queue: group-committed ingest, SKIP LOCKED claims under leases, outcomes, recovery."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from wahooks.ids import uuid7
from wahooks.models import (
    DeliveryJob,
)
from wahooks.storage.batching import Batcher
from wahooks.storage.postgres.database import (
    DUE_CHANNEL,
    PostgresDatabase,
)
from wahooks.storage.postgres.database import (
    NOW as _NOW,
)
from wahooks.storage.records import (
    INTERRUPTED,
    NewEvent,
    RecordedOutcome,
)


@dataclass(frozen=True, slots=True)
class _IngestItem:
    events: list[NewEvent]
    claim_lease_ms: int | None
    only_webhook: str | None
    defer_webhooks: Collection[str]


class PostgresQueue:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._ingest = Batcher(self._ingest_batch)

    async def ingest(
        self,
        events: list[NewEvent],
        *,
        claim_lease_ms: int | None,
        only_webhook: str | None = None,
        defer_webhooks: Collection[str] = (),
    ) -> list[list[DeliveryJob]]:
        return await self._ingest.submit(
            _IngestItem(events, claim_lease_ms, only_webhook, defer_webhooks)
        )

    async def _ingest_batch(self, items: list[_IngestItem]) -> list[list[list[DeliveryJob]]]:
        async def work(c: Any) -> list[list[list[DeliveryJob]]]:
            now = int(await c.fetchval(f"SELECT {_NOW}"))
            targets = await _targets(c, items)
            event_rows: list[tuple[str, str, str, bytes]] = []
            delivery_rows: list[tuple[str, str, str, str, int, int | None]] = []
            answers: list[list[list[DeliveryJob]]] = []
            for item in items:
                per_event = []
                for event in item.events:
                    jobs = []
                    found = targets.get((event.connection_id, event.event_type, item.only_webhook))
                    if found:
                        event_id = uuid7()
                        event_rows.append(
                            (event_id, event.connection_id, event.event_type, event.body)
                        )
                        for webhook_id, url, secret in found:
                            claimed = (
                                item.claim_lease_ms is not None
                                and webhook_id not in item.defer_webhooks
                            )
                            job = DeliveryJob(
                                uuid7(), webhook_id, url, secret, event.event_type, event.body,
                                1 if claimed else 0, 0,
                            )
                            lease = (
                                now + item.claim_lease_ms
                                if claimed and item.claim_lease_ms is not None else None
                            )
                            delivery_rows.append(
                                (job.delivery_id, webhook_id, event_id, event.event_type,
                                 job.attempt, lease)
                            )
                            jobs.append(job)
                    per_event.append(jobs)
                answers.append(per_event)
            if event_rows:
                await c.execute(
                    "INSERT INTO events (id, connection_id, event_type, body, created_at)"
                    " SELECT u.id, u.connection_id, u.event_type, u.body, $5"
                    " FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bytea[])"
                    " AS u(id, connection_id, event_type, body)",
                    *zip(*event_rows, strict=True), now,
                )
                await c.execute(
                    "INSERT INTO deliveries (id, webhook_id, event_id, event_type, status,"
                    " attempts, next_attempt_at, lease_until, created_at)"
                    " SELECT u.id, u.webhook_id, u.event_id, u.event_type, 'pending', u.attempts,"
                    " $7, u.lease_until, $7 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[],"
                    " $4::text[], $5::int[], $6::bigint[])"
                    " AS u(id, webhook_id, event_id, event_type, attempts, lease_until)",
                    *zip(*delivery_rows, strict=True), now,
                )
                if any(row[4] == 0 for row in delivery_rows):
                    await c.execute(f"NOTIFY {DUE_CHANNEL}")
            return answers

        return await self._db.run(work, transaction=True)

    async def claim_due(
        self, limit: int, lease_ms: int, *, skip_webhooks: Collection[str] = ()
    ) -> list[DeliveryJob]:
        rows = await self._db.run(lambda c: c.fetch(
            "WITH due AS (SELECT id FROM deliveries WHERE status = 'pending'"
            f" AND lease_until IS NULL AND next_attempt_at <= {_NOW}"
            " AND NOT (webhook_id = ANY($3::uuid[]))"
            " ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED),"
            " claimed AS (UPDATE deliveries d SET attempts = d.attempts + 1,"
            f" lease_until = {_NOW} + $2 FROM due WHERE d.id = due.id"
            " RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.attempts, d.cycle_start)"
            " SELECT c.id, c.webhook_id, w.url, w.signing_secret, c.event_type, e.body,"
            " c.attempts, c.cycle_start FROM claimed c"
            " JOIN webhooks w ON w.id = c.webhook_id JOIN events e ON e.id = c.event_id",
            limit, lease_ms, list(skip_webhooks),
        ), transaction=True)
        return [
            DeliveryJob(str(r[0]), str(r[1]), r[2], r[3], r[4], bytes(r[5]), r[6], r[7])
            for r in rows
        ]

    async def next_due_in_ms(self, *, skip_webhooks: Collection[str] = ()) -> int | None:
        value = await self._db.run(lambda c: c.fetchval(
            f"SELECT min(next_attempt_at) - {_NOW} FROM deliveries"
            " WHERE status = 'pending' AND lease_until IS NULL"
            " AND NOT (webhook_id = ANY($1::uuid[]))",
            list(skip_webhooks),
        ))
        return None if value is None else max(int(value), 0)

    async def extend_leases(self, delivery_ids: list[str], lease_ms: int) -> None:
        await self._db.run(lambda c: c.execute(
            f"UPDATE deliveries SET lease_until = {_NOW} + $2"
            " WHERE id = ANY($1::uuid[]) AND status = 'pending' AND lease_until IS NOT NULL",
            delivery_ids, lease_ms,
        ))

    def listen_due(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever another process leaves deliveries due in the database."""
        self._db.listen(DUE_CHANNEL, lambda _: callback(), on_connect=callback)

    async def release(self, delivery_ids: list[str]) -> None:
        await self._db.run(lambda c: c.execute(
            f"UPDATE deliveries SET attempts = attempts - 1, lease_until = NULL,"
            f" next_attempt_at = {_NOW} WHERE id = ANY($1::uuid[]) AND status = 'pending'"
            " AND lease_until IS NOT NULL",
            delivery_ids,
        ))

    async def record_outcomes(self, outcomes: list[RecordedOutcome]) -> None:
        async def work(c: Any) -> None:
            await c.execute(
                "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code,"
                " error) SELECT u.* FROM unnest($1::uuid[], $2::int[], $3::bigint[],"
                " $4::float8[], $5::int[], $6::text[]) AS u(id, n, s, d, c, e)"
                " WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = u.id)"
                " ON CONFLICT (delivery_id, number) DO UPDATE SET started_at = excluded.started_at,"
                " duration_ms = excluded.duration_ms, status_code = excluded.status_code,"
                " error = excluded.error",
                [o.delivery_id for o in outcomes], [o.attempt for o in outcomes],
                [o.outcome.started_at for o in outcomes], [o.outcome.duration_ms for o in outcomes],
                [o.outcome.status_code for o in outcomes], [o.outcome.error for o in outcomes],
            )
            # Only the holder of the current claim settles a delivery: an outcome that arrives
            # after its lease ran out and another process re-claimed it is logged, not applied.
            await c.execute(
                "UPDATE deliveries d SET status = u.status, lease_until = NULL,"
                f" next_attempt_at = CASE WHEN u.retry_in IS NULL THEN NULL"
                f" ELSE {_NOW} + u.retry_in END,"
                " delivered_at = CASE WHEN u.status = 'delivered' THEN u.delivered_at END"
                " FROM unnest($1::uuid[], $2::int[], $3::text[], $4::bigint[], $5::bigint[])"
                " AS u(id, attempt, status, retry_in, delivered_at)"
                " WHERE d.id = u.id AND d.attempts = u.attempt AND d.status = 'pending'",
                [o.delivery_id for o in outcomes], [o.attempt for o in outcomes],
                [o.status.value for o in outcomes], [o.retry_in_ms for o in outcomes],
                [o.outcome.started_at + int(o.outcome.duration_ms) for o in outcomes],
            )

        await self._db.run(work, transaction=True)

    async def recover_expired_leases(self, *, all_leases: bool = False) -> int:
        # Other processes may hold leases: only expired ones are ever taken back here.
        rows = await self._db.run(lambda c: c.fetch(
            "WITH expired AS (SELECT id, attempts FROM deliveries WHERE status = 'pending'"
            f" AND lease_until IS NOT NULL AND lease_until < {_NOW}"
            " FOR UPDATE SKIP LOCKED),"
            " logged AS (INSERT INTO attempts (delivery_id, number, started_at, error)"
            f" SELECT id, attempts, {_NOW}, $1 FROM expired WHERE attempts > 0"
            " ON CONFLICT DO NOTHING)"
            f" UPDATE deliveries d SET lease_until = NULL, next_attempt_at = {_NOW}"
            " FROM expired WHERE d.id = expired.id RETURNING d.id",
            INTERRUPTED,
        ), transaction=True)
        if rows:
            await self._db.run(lambda c: c.execute(f"NOTIFY {DUE_CHANNEL}"))
        return len(rows)


async def _targets(
    c: Any, items: list[_IngestItem]
) -> dict[tuple[str, str, str | None], list[tuple[str, str, str]]]:
    """For each (connection, event type, only_webhook) in the batch, the webhooks to deliver to."""
    connection_ids = sorted({
        e.connection_id for item in items if item.only_webhook is None for e in item.events
    })
    only = sorted({item.only_webhook for item in items if item.only_webhook is not None})
    found: dict[tuple[str, str, str | None], list[tuple[str, str, str]]] = {}
    if connection_ids:
        rows = await c.fetch(
            "SELECT id, connection_id, url, signing_secret, events FROM webhooks"
            " WHERE connection_id = ANY($1::uuid[]) AND active ORDER BY id",
            connection_ids,
        )
        for item in items:
            if item.only_webhook is not None:
                continue
            for event in item.events:
                key = (event.connection_id, event.event_type, None)
                if key not in found:
                    found[key] = [
                        (str(r[0]), r[2], r[3]) for r in rows
                        if str(r[1]) == event.connection_id
                        and ("*" in r[4] or event.event_type in r[4])
                    ]
    if only:
        rows = await c.fetch(
            "SELECT id, url, signing_secret FROM webhooks WHERE id = ANY($1::uuid[])", only
        )
        by_id = {str(r[0]): (str(r[0]), r[1], r[2]) for r in rows}
        for item in items:
            if item.only_webhook is not None and item.only_webhook in by_id:
                for event in item.events:
                    found[(event.connection_id, event.event_type, item.only_webhook)] = [
                        by_id[item.only_webhook]
                    ]
    return found
