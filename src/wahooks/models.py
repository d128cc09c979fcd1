"""Domain records: what wahooks knows about accounts, connections, webhooks and deliveries.

Frozen dataclasses with `slots`, built by the stores and read everywhere else. Times are Unix
milliseconds; `wahooks.clock.iso` renders them for the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from wahooks.value_records import value_record


class ConnectionStatus(StrEnum):
    """Lifecycle of a linked WhatsApp number, as stored (the original's `waha_sessions.status`)."""

    PENDING = "pending"
    SCAN_QR = "scan_qr"
    WORKING = "working"
    FAILED = "failed"
    STOPPED = "stopped"


class ErrorClass(StrEnum):
    """Why an attempt failed, as a kind the retry policy and observers can act on; the attempt's
    `error` text says the same to people."""

    TIMEOUT = "timeout"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_RESET = "connect_reset"  # closed or reset before the answer was complete
    DNS = "dns"
    TLS = "tls"
    TARGET_REFUSED = "target_refused"  # the target policy refused the address (retried)
    HTTP_STATUS = "http_status"  # an answer, but not a 2xx
    RESPONSE_TOO_LARGE = "response_too_large"
    OTHER = "other"


class Trigger(StrEnum):
    """What made an attempt. A delivery carries the trigger of its next attempt (set by whatever
    makes it due: ingest, the test event, redelivery, recovery, a later replay) and every recorded
    outcome sets it back to SCHEDULED, so retries are `scheduled` whatever started the cycle."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"  # redelivery of one delivery or of all dead letters
    RECOVER = "recover"  # POST /api/webhooks/:id/recover
    REPLAY = "replay"  # held deliveries released when a webhook is enabled again
    TEST = "test"  # the test event


class Ordering(StrEnum):
    """Whether a webhook's deliveries of one chat go one after another (docs/delivery.md)."""

    NONE = "none"  # every delivery on its own, as the original
    CHAT = "chat"  # one chat's deliveries strictly one after another, in event order


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    HELD = "held"  # kept, not attempted, while its webhook is disabled (docs/delivery.md)


class DisabledReason(StrEnum):
    """Why wahooks turned a webhook off by itself; a webhook turned off by hand has none."""

    GONE = "gone"  # the receiver answered 410 Gone
    FAILING = "failing"  # every attempt failed for the configured period (docs/delivery.md)


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    is_owner: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    user_id: str
    name: str
    token_prefix: str
    active: bool
    last_used_at: int | None
    created_at: int


@dataclass(frozen=True, slots=True)
class Connection:
    id: str
    user_id: str
    name: str | None
    session_name: str
    phone_number: str | None
    status: ConnectionStatus
    engine: str
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    user_id: str
    connection_id: str
    url: str
    events: tuple[str, ...]
    signing_secret: str
    active: bool
    created_at: int
    updated_at: int
    # After a rotation, the secret replaced and when it stops signing (Unix ms); docs/signatures.md.
    previous_secret: str | None = None
    previous_secret_expires_at: int | None = None
    # Set when wahooks disabled the webhook by itself (its new events are held); `active` stays
    # the user's switch. docs/delivery.md, "Endpoint health".
    disabled_reason: DisabledReason | None = None
    disabled_at: int | None = None
    ordering: Ordering = Ordering.NONE

    @property
    def enabled(self) -> bool:
        """Switched on by the user and not disabled by wahooks: its events are attempted."""
        return self.active and self.disabled_reason is None


@dataclass(frozen=True, slots=True)
class WebhookHealth:
    """How a webhook's endpoint has been answering. The counters are kept as outcomes are
    recorded; the 24 h figures are counted from the attempts at read time."""

    last_success_at: int | None
    last_failure_at: int | None
    failing_since: int | None  # the first failed attempt since the last success
    consecutive_dead_letters: int
    attempts_24h: int
    successes_24h: int
    held: int  # deliveries held now
    held_dropped: int  # held deliveries the held cap removed, ever

    @property
    def success_rate_24h(self) -> float | None:
        """Successful attempts over all attempts in the last 24 h; None without attempts."""
        return None if not self.attempts_24h else self.successes_24h / self.attempts_24h


@value_record
class DeliveryJob:
    """One attempt to make: everything the sender needs, so the hot path reads nothing."""

    delivery_id: str
    webhook_id: str
    url: str
    signing_secret: str
    event_type: str
    body: bytes
    attempt: int  # 1-based number of this attempt over the delivery's whole life
    attempts_before_cycle: int  # attempts made before the last redelivery (0 if never redelivered)
    # During a rotation's overlap the secret replaced still signs (docs/signatures.md): read with
    # the webhook, so the sender needs no query to know it.
    previous_secret: str | None = None
    previous_secret_expires_at: int | None = None
    account_id: str = ""  # the webhook's owner: global concurrency is shared fairly among accounts
    trigger: Trigger = Trigger.SCHEDULED
    # For a webhook with per-chat ordering: the line this delivery waits in (chats.line_key: the
    # webhook and the chat); None when unordered. Its outcome lets the next one of the line go.
    order_key: str | None = None


# The HTTP status classes the logs filter on, by their lowest status; "none": no HTTP answer.
STATUS_CLASSES = {"2xx": 200, "3xx": 300, "4xx": 400, "5xx": 500, "none": 0}

# What an attempt keeps of the receiver's answer: enough to debug it, bounded so a chatty receiver
# cannot grow the log. The headers are the ones that explain an answer (its type, a Retry-After)
# or tie it to the receiver's own logs (request ids); names are kept in lower case.
RESPONSE_BODY_BYTES = 1024
KEPT_RESPONSE_HEADERS = (
    "content-type", "retry-after", "x-request-id", "request-id", "x-correlation-id",
    "x-amzn-requestid", "cf-ray",
)


class SentRequest(NamedTuple):
    """What an attempt's request carried that is not known from its delivery: the parts that vary
    per attempt (timestamp, signatures) or over a delivery's life (the Host a URL change moves,
    the User-Agent an upgrade changes). The rest of the header block is rebuilt from the delivery
    (`wahooks.storage.request_headers`), so an attempt stores under 200 bytes, not the whole block.
    No secret is in it: signatures are what the receiver sees anyway.

    A NamedTuple, not a frozen dataclass like the other records: it is made per attempt on the
    hot path, and building a tuple costs a third of a frozen dataclass's __init__
    (bench/request_headers.py)."""

    timestamp: int  # X-WAHooks-Timestamp and webhook-timestamp, Unix seconds
    signature: str  # X-WAHooks-Signature
    standard_signature: str  # webhook-signature: one "v1,..." entry, two during a rotation
    host: str
    user_agent: str


@value_record
class AttemptOutcome:
    """What one attempt came to: an HTTP status, or an error before any status arrived.

    `error_class` is None when the attempt succeeded. `retry_after` is the receiver's Retry-After
    in seconds from when its answer arrived (given as seconds or as an HTTP date), if it sent one.
    """

    started_at: int
    duration_ms: float
    status_code: int | None
    error: str | None
    error_class: ErrorClass | None = None
    retry_after: float | None = None
    response_body: str | None = None  # the first RESPONSE_BODY_BYTES of the answer, if any
    response_headers: tuple[tuple[str, str], ...] = ()  # the KEPT_RESPONSE_HEADERS it sent
    # The request as built: None when the attempt never got that far (the target was refused).
    request: SentRequest | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    started_at: int
    duration_ms: float | None
    status_code: int | None
    error: str | None
    error_class: ErrorClass | None = None
    response_body: str | None = None
    response_headers: tuple[tuple[str, str], ...] = ()
    trigger: Trigger | None = None  # None for attempts logged before triggers were recorded
    # The request's headers in the order and case they were written; None when not recorded
    # (attempts logged before they were, interrupted attempts, a refused target).
    request_headers: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    """A delivery as the logs endpoint shows it: the event, where it stands, and every attempt."""

    id: str
    webhook_id: str
    event_id: str
    event_type: str
    body: bytes
    status: DeliveryStatus
    attempts: int
    next_attempt_at: int | None
    delivered_at: int | None
    created_at: int
    attempt_log: tuple[Attempt, ...]
