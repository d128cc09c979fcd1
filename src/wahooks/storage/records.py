"""Records that cross the storage boundary: what callers hand the backends and what they get back.

Every backend implements, one module per aggregate, the narrow protocols that the code using it
declares (`wahooks.accounts.AccountStore`, `wahooks.delivery.dispatcher.DeliveryQueue`, ...).

Scheduling times (due times, leases, retention ages) are given as durations and turned into
instants by the store with the database's clock, so several machines whose clocks differ share one
schedule: no retry runs early or is lost because one machine's clock is ahead.

Writes that the delivery pipeline makes in bulk (ingest, claims, outcomes) take and return batches so a
backend can group them into few transactions. A claimed delivery carries a lease: until it expires no
other dispatcher takes it, and when it expires unrecorded (the process died mid-attempt) the attempt is
logged as interrupted and the delivery becomes due again.
"""

from __future__ import annotations

from dataclasses import dataclass

from wahooks.models import AttemptOutcome, DeliveryJob, DeliveryStatus, DisabledReason, Trigger
from wahooks.value_records import value_record

INTERRUPTED = "interrupted: the process stopped before this attempt's outcome was recorded"


@value_record
class ReplayKey:
    """An engine's own id for an event (WAHA's), taken once per session in the transaction that
    stores the event: an event whose key was taken before is skipped, and a transaction that
    fails leaves the key free, so the engine's retry goes through. Kept in `waha_event_ids`."""

    session_name: str
    event_id: str
    received_at_ms: int


@value_record
class NewEvent:
    connection_id: str
    event_type: str
    body: bytes
    chat_id: str | None = None  # the chat it is about (chats.chat_of), for per-chat ordering
    replay_key: ReplayKey | None = None  # None: taken every time (sandbox and test events)


@value_record
class RecordedOutcome:
    """An attempt's outcome with the verdict the retry policy gave it."""

    delivery_id: str
    attempt: int
    outcome: AttemptOutcome
    status: DeliveryStatus  # DELIVERED, FAILED (dead letter) or PENDING (retry)
    retry_in_ms: int | None  # for PENDING: how long from now the next attempt is due
    trigger: Trigger = Trigger.SCHEDULED  # what made this attempt (the job's)
    webhook_id: str = ""  # whose endpoint answered: its health is updated with the batch
    # An ordered delivery's line (the job's): a final outcome lets the next one of it go.
    order_key: str | None = None


def turns_ended(outcomes: list[RecordedOutcome]) -> set[tuple[str, str]]:
    """The chat lines (webhook id, order key) whose first delivery these outcomes end (delivered
    or dead letter): the next one of each may go."""
    return {
        (o.webhook_id, o.order_key) for o in outcomes
        if o.order_key is not None and o.status is not DeliveryStatus.PENDING
    }


def turns_handed_over(
    ended: set[tuple[str, str]], disabled: set[str], lease_next_ms: int | None
) -> set[tuple[str, str]]:
    """Of the lines whose turn ended, those whose next delivery the outcome write leases for its
    dispatcher: none unless it asked (`lease_next_ms`), never a disabled webhook's (held)."""
    if lease_next_ms is None:
        return set()
    return {line for line in ended if line[0] not in disabled}


@dataclass(frozen=True, slots=True)
class WebhookStateChange:
    """A webhook was disabled by wahooks or enabled again: logged and told to the account's live
    subscribers (/api/ws), whichever process decided it."""

    webhook_id: str
    user_id: str
    connection_id: str
    disabled_reason: DisabledReason | None  # None: enabled again
    disabled_at: int | None
    replayed: int = 0  # held deliveries released by an enable


@value_record
class WrittenOutcomes:
    """What writing a batch of outcomes did besides recording it."""

    changes: list[WebhookStateChange]  # the webhooks it disabled
    # Ordered deliveries whose turn the batch's outcomes began, already leased for the writer's
    # dispatcher (when it asked: `lease_next_ms`), so they go out without waiting for a claim.
    next_jobs: list[DeliveryJob]


@dataclass(frozen=True, slots=True)
class PruneCounts:
    delivered: int
    dead_letters: int
    events: int
    held: int = 0  # held deliveries beyond the held cap (counted in webhooks.held_dropped too)


@dataclass(frozen=True, slots=True)
class WahaSession:
    """A connection's WAHA session: the server it runs on and its webhook HMAC key (secret)."""

    connection_id: str
    session_name: str
    server_url: str
    hmac_key: str
    created_at: int


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    """A delivery process as its heartbeats show it (several processes on PostgreSQL)."""

    worker_id: str  # host:pid:start, as the dispatcher names itself
    started_at: int
    seen_at: int  # its last heartbeat


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """The whole delivery queue at one moment, for metrics: deliveries by status (every status,
    0 when none), the pending ones a dispatcher holds right now, and how long the oldest delivery
    that is due and not held has waited (0 when none waits)."""

    by_status: dict[DeliveryStatus, int]
    leased: int
    oldest_due_age_ms: int
