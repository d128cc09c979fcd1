"""The Store protocol: everything wahooks keeps, behind one interface with a backend per database.

Scheduling times (due times, leases, retention ages) are given as durations and turned into
instants by the store with the database's clock, so several machines whose clocks differ share one
schedule: no retry runs early or is lost because one machine's clock is ahead.

Writes that the delivery pipeline makes in bulk (ingest, claims, outcomes) take and return batches so a
backend can group them into few transactions. A claimed delivery carries a lease: until it expires no
other dispatcher takes it, and when it expires unrecorded (the process died mid-attempt) the attempt is
logged as interrupted and the delivery becomes due again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from wahooks.models import (
    ApiToken,
    AttemptOutcome,
    Connection,
    ConnectionStatus,
    DeliveryJob,
    DeliveryLog,
    DeliveryStatus,
    User,
    Webhook,
)

INTERRUPTED = "interrupted: the process stopped before this attempt's outcome was recorded"


@dataclass(frozen=True, slots=True)
class NewEvent:
    connection_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    """An attempt's outcome with the verdict the retry policy gave it."""

    delivery_id: str
    attempt: int
    outcome: AttemptOutcome
    status: DeliveryStatus  # DELIVERED, FAILED (dead letter) or PENDING (retry)
    retry_in_ms: int | None  # for PENDING: how long from now the next attempt is due


@dataclass(frozen=True, slots=True)
class PruneCounts:
    delivered: int
    dead_letters: int
    events: int


@dataclass(frozen=True, slots=True)
class WahaSession:
    """A connection's WAHA session: the server it runs on and its webhook HMAC key (secret)."""

    connection_id: str
    session_name: str
    server_url: str
    hmac_key: str
    created_at: int


class Store(Protocol):
    single_process: bool
    """True when one process owns the database (SQLite): no lease can be held by anyone else."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    # accounts and tokens
    async def create_user(self, name: str, *, is_owner: bool) -> User: ...
    async def get_user(self, user_id: str) -> User | None: ...
    async def owner(self) -> User | None: ...
    async def user_named(self, name: str) -> User | None: ...
    async def create_first_owner(self, name: str) -> User | None:
        """Create the owner account unless one exists (atomically: of concurrent callers, one
        wins); None when there already was one."""
        ...

    async def create_token(
        self, user_id: str, name: str, token_hash: str, token_prefix: str
    ) -> ApiToken: ...
    async def list_tokens(self, user_id: str) -> list[ApiToken]: ...
    async def get_token(self, token_id: str) -> ApiToken | None: ...
    async def revoke_token(self, token_id: str) -> None: ...
    async def find_active_token(self, token_hash: str) -> ApiToken | None: ...
    async def touch_token(self, token_id: str, at: int) -> None: ...

    # connections
    async def create_connection(self, connection: Connection) -> None: ...
    async def get_connection(self, connection_id: str) -> Connection | None: ...
    async def find_connection_by_session(self, session_name: str) -> Connection | None: ...
    async def list_connections(
        self, user_id: str | None = None, *, include_stopped: bool = False
    ) -> list[Connection]: ...
    async def rename_connection(self, connection_id: str, name: str | None) -> Connection: ...
    async def set_connection_status(
        self, connection_id: str, status: ConnectionStatus, *, phone_number: str | None = None
    ) -> Connection:
        """Change the status (and, when given, the phone number) of a connection."""
        ...

    # WAHA sessions (engine 'waha')
    async def save_waha_session(self, session: WahaSession) -> None:
        """Insert, or replace the row of the same session name."""
        ...

    async def get_waha_session(self, session_name: str) -> WahaSession | None: ...
    async def list_waha_sessions(self) -> list[WahaSession]: ...
    async def delete_waha_session(self, session_name: str) -> None: ...

    # webhooks
    async def create_webhook(self, webhook: Webhook) -> None: ...
    async def get_webhook(self, webhook_id: str) -> Webhook | None: ...
    async def list_webhooks(self, connection_id: str) -> list[Webhook]: ...
    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: tuple[str, ...] | None = None,
        active: bool | None = None,
    ) -> Webhook: ...
    async def delete_webhook(self, webhook_id: str) -> None: ...

    # the delivery pipeline
    async def ingest(
        self,
        events: list[NewEvent],
        *,
        claim_lease_ms: int | None,
        only_webhook: str | None = None,
        defer_webhooks: Collection[str] = (),
    ) -> list[list[DeliveryJob]]:
        """Persist each event with one delivery per matching active webhook (or only `only_webhook`,
        active or not), all in one transaction. With `claim_lease_ms`, the new deliveries are
        claimed for the caller under a lease that long (attempt 1 in progress), except those of
        `defer_webhooks`; unclaimed ones wait in the database for a claim and come back as jobs
        with `attempt` 0."""
        ...

    async def claim_due(
        self, limit: int, lease_ms: int, *, skip_webhooks: Collection[str] = ()
    ) -> list[DeliveryJob]:
        """Claim up to `limit` due deliveries, oldest due first, under a lease of `lease_ms`; a
        delivery another dispatcher holds is never returned."""
        ...

    async def next_due_in_ms(self, *, skip_webhooks: Collection[str] = ()) -> int | None:
        """How long until the next unclaimed delivery is due (0 if one is due now); None if none."""
        ...

    async def extend_leases(self, delivery_ids: list[str], lease_ms: int) -> None:
        """Renew the leases of deliveries this process still holds (queued or in flight)."""
        ...

    def listen_due(self, callback: Callable[[], None]) -> None:
        """Call `callback` when another process leaves deliveries due in the database."""
        ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Whether this process may do the named job now: at most one process holds it at a
        time (a backend with one process always may). Held until the block ends."""
        ...

    async def heartbeat(self, worker_id: str) -> None:
        """A delivery process is alive (multi-process backends keep a list)."""
        ...

    async def live_workers(self, within_ms: int) -> int:
        """How many delivery processes were seen alive in the last `within_ms`."""
        ...

    async def release(self, delivery_ids: list[str]) -> None:
        """Hand claimed deliveries that were never attempted back: no attempt is counted."""
        ...

    async def record_outcomes(self, outcomes: list[RecordedOutcome]) -> None: ...
    async def recover_expired_leases(self, *, all_leases: bool = False) -> int:
        """Log an interrupted attempt for each delivery whose lease ran out before its outcome was
        recorded, and make it due now. `all_leases` treats every lease as expired (a single-process
        backend at start-up, when no other process can hold one)."""
        ...

    async def list_deliveries(
        self,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[DeliveryLog]: ...
    async def get_delivery(self, delivery_id: str) -> DeliveryLog | None: ...
    async def redeliver(self, webhook_id: str, delivery_ids: list[str] | None) -> list[str]:
        """Make deliveries of a webhook due again, starting a fresh retry cycle: the given ones if
        dead-lettered or delivered, or every dead letter when `delivery_ids` is None. Returns the
        ids that were redelivered."""
        ...

    async def prune(
        self, *, delivered_max_age_ms: int, delivered_kept: int, dead_letters_kept: int
    ) -> PruneCounts: ...
    async def ping(self) -> None: ...
