"""Webhooks: where a connection's events go, and what can be done with their deliveries.

The rules live here, the routes only translate HTTP: who may touch a webhook (its account; another
account's id is 403, an unknown or malformed one 404), what a valid target is (the target policy,
checked again at connect time), the secret made at creation, the log filters, and redelivery and
recovery (bounded: RECOVER_MAX_WINDOW_MS, RECOVER_MAX_DELIVERIES), which wake the dispatcher so that
it does not wait for its next look at the database. Endpoint health: what a webhook's endpoint has
been answering, and enabling a webhook that wahooks disabled, which replays its held deliveries
(docs/delivery.md, "Endpoint health").
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from wahooks.clock import now_ms
from wahooks.delivery.targets import InvalidTargetURL, TargetPolicy, TargetRefused
from wahooks.errors import Conflict, Forbidden, NotFound, ValidationFailed
from wahooks.ids import parse_uuid, uuid7
from wahooks.models import (
    STATUS_CLASSES,
    Connection,
    DeliveryLog,
    DeliveryStatus,
    Ordering,
    User,
    Webhook,
    WebhookHealth,
)
from wahooks.schemas import events_field, ordering_field, raise_if
from wahooks.signing import signing_secret
from wahooks.storage.records import QueueDepth

# Recovery's bounds: a window of event times at most this long, at most this many deliveries
# queued again by one call (more is refused whole, so a call never half-applies and one call
# cannot flood a receiver that just came back).
RECOVER_MAX_WINDOW_MS = 14 * 24 * 3600 * 1000
RECOVER_MAX_DELIVERIES = 10_000
# Retrying the dead letters a filtered log view shows: refused whole beyond recovery's bound.
RETRY_MATCHING_MAX = RECOVER_MAX_DELIVERIES

# The success rate a webhook's health shows is over this window of attempts.
HEALTH_WINDOW_MS = 24 * 3600 * 1000

log = logging.getLogger(__name__)


class WebhookStore(Protocol):
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
        ordering: Ordering | None = None,
    ) -> Webhook:
        """Setting `active` ends a disable by wahooks; True also replays the held deliveries."""
        ...
    async def webhook_health(self, webhook_id: str, since: int) -> WebhookHealth | None: ...
    async def rotate_secret(
        self, webhook_id: str, secret: str, previous_expires_at: int
    ) -> Webhook: ...
    async def delete_webhook(self, webhook_id: str) -> None: ...


# Secret rotation (docs/signatures.md): how long the secret replaced keeps signing.
DEFAULT_OVERLAP_SECONDS = 24 * 3600
MAX_OVERLAP_SECONDS = 7 * 24 * 3600


class DeliveryLogStore(Protocol):
    async def list_deliveries(
        self,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 100,
        before: str | None = None,
        event_type: str | None = None,
        since: int | None = None,
        until: int | None = None,
        status_class: str | None = None,
    ) -> list[DeliveryLog]: ...
    async def get_delivery(self, delivery_id: str) -> DeliveryLog | None: ...
    async def account_queue_depth(self, user_id: str) -> QueueDepth:
        """`queue_depth`'s figures over one account's webhooks only."""
        ...
    async def redeliver(self, webhook_id: str, delivery_ids: list[str] | None) -> list[str]:
        """Make deliveries due again (the given ones, or every dead letter); their ids."""
        ...
    async def recover(
        self, webhook_id: str, since: int, until: int, max_count: int
    ) -> list[str] | None:
        """Make due again, in event order, the dead letters with event times in [since, until)
        that never succeeded; their ids, or None (nothing changed) when there are more than
        `max_count`."""
        ...


class TestEvents(Protocol):
    async def send_test(self, webhook: Webhook) -> str:
        """Deliver the test event; the new delivery's id."""
        ...


class Wakeable(Protocol):
    def poke(self) -> None:
        """Deliveries are due in the database: look now."""
        ...


class WebhookService:
    def __init__(
        self,
        webhooks: WebhookStore,
        deliveries: DeliveryLogStore,
        targets: TargetPolicy,
        tests: TestEvents,
        dispatcher: Wakeable,
    ) -> None:
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._targets = targets
        self._tests = tests
        self._dispatcher = dispatcher

    async def owned(self, user: User, webhook_id: str) -> Webhook:
        canonical = parse_uuid(webhook_id)
        webhook = None if canonical is None else await self._webhooks.get_webhook(canonical)
        if webhook is None:
            raise NotFound("Webhook config not found")
        if webhook.user_id != user.id:
            raise Forbidden("You do not own this webhook config")
        return webhook

    async def of_connection(self, connection: Connection) -> list[Webhook]:
        return await self._webhooks.list_webhooks(connection.id)

    async def create(
        self, user: User, connection: Connection, *, url: Any, events: Any, ordering: Any = None
    ) -> Webhook:
        """A new webhook with a fresh signing secret; `url`, `events` and `ordering` (absent:
        none) as the client sent them."""
        errors: list[str] = []
        checked_url = await self._checked_url(url, errors)
        checked_events = events_field(events, errors)
        checked_ordering = ordering_field(ordering, errors)
        raise_if(errors)
        assert checked_url is not None and checked_events is not None
        now = now_ms()
        webhook = Webhook(
            id=uuid7(), user_id=user.id, connection_id=connection.id, url=checked_url,
            events=checked_events, signing_secret=signing_secret(), active=True, created_at=now,
            updated_at=now, ordering=checked_ordering or Ordering.NONE,
        )
        await self._webhooks.create_webhook(webhook)
        return webhook

    async def update(
        self, webhook: Webhook, *, url: Any = None, events: Any = None, active: Any = None,
        ordering: Any = None,
    ) -> Webhook:
        """Change what was given (None: unchanged). A change of ordering applies to events
        accepted from then on; deliveries already in a chat's line still go one after another."""
        errors: list[str] = []
        checked_url = checked_events = None
        if url is not None:
            checked_url = await self._checked_url(url, errors)
        if events is not None:
            checked_events = events_field(events, errors)
        if active is not None and not isinstance(active, bool):
            errors.append("active must be a boolean value")
        checked_ordering = ordering_field(ordering, errors)
        raise_if(errors)
        held = 0
        if active is True:
            health = await self._webhooks.webhook_health(webhook.id, now_ms())
            held = 0 if health is None else health.held
        updated = await self._webhooks.update_webhook(
            webhook.id, url=checked_url, events=checked_events, active=active,
            ordering=checked_ordering,
        )
        if active is True and (webhook.disabled_reason is not None or held):
            log.info(
                "webhook enabled again; its held deliveries are replayed",
                extra={"action": "webhook.enabled", "webhook_id": webhook.id, "held": held,
                       "was": None if webhook.disabled_reason is None
                       else webhook.disabled_reason.value},
            )
            self._dispatcher.poke()
        return updated

    async def health(self, webhook: Webhook) -> WebhookHealth:
        """What the endpoint has been answering; the success rate over the last 24 h."""
        found = await self._webhooks.webhook_health(webhook.id, now_ms() - HEALTH_WINDOW_MS)
        if found is None:
            raise NotFound("Webhook config not found")
        return found

    async def rotate_secret(self, webhook: Webhook, *, overlap_seconds: Any = None) -> Webhook:
        """A new signing secret; the one it replaces keeps signing for `overlap_seconds`
        (default 24 h, 0 ends it at once, at most 7 days), as docs/signatures.md describes."""
        overlap = DEFAULT_OVERLAP_SECONDS if overlap_seconds is None else overlap_seconds
        if (
            isinstance(overlap, bool) or not isinstance(overlap, int)
            or not 0 <= overlap <= MAX_OVERLAP_SECONDS
        ):
            raise ValidationFailed([
                f"overlapSeconds must be a whole number of seconds from 0 to {MAX_OVERLAP_SECONDS}"
                " (7 days)"
            ])
        return await self._webhooks.rotate_secret(
            webhook.id, signing_secret(), now_ms() + overlap * 1000
        )

    async def delete(self, webhook: Webhook) -> None:
        """The webhook and its whole delivery log."""
        await self._webhooks.delete_webhook(webhook.id)

    async def logs(
        self,
        webhook: Webhook,
        *,
        status: DeliveryStatus | None,
        limit: int,
        before: str | None,
        event_type: str | None = None,
        since: str | None = None,
        until: str | None = None,
        status_class: str | None = None,
    ) -> list[DeliveryLog]:
        """Deliveries newest first; `before` is a log id to page on from. The filters: the event
        type, event times in [since, until) (ISO 8601), the HTTP status class of the last attempt
        (2xx, 3xx, 4xx, 5xx, or none when it got no HTTP answer)."""
        errors: list[str] = []
        cursor = None
        if before is not None:
            cursor = parse_uuid(before)
            if cursor is None:
                errors.append("before must be a log id")
        since_ms = _instant("since", since, errors)
        until_ms = _instant("until", until, errors)
        if since_ms is not None and until_ms is not None and since_ms > until_ms:
            errors.append("since must not be later than until")
        if status_class is not None and status_class not in STATUS_CLASSES:
            errors.append(f"statusClass must be one of: {', '.join(STATUS_CLASSES)}")
        raise_if(errors)
        return await self._deliveries.list_deliveries(
            webhook.id, status=status, limit=limit, before=cursor, event_type=event_type,
            since=since_ms, until=until_ms, status_class=status_class,
        )

    async def log(self, webhook: Webhook, log_id: str) -> DeliveryLog:
        """One delivery of the webhook with every attempt."""
        canonical = parse_uuid(log_id)
        entry = None if canonical is None else await self._deliveries.get_delivery(canonical)
        if entry is None or entry.webhook_id != webhook.id:
            raise NotFound("Webhook log not found")
        return entry

    async def account_queue_depth(self, user: User) -> QueueDepth:
        """The user's own deliveries by state, leased, and the oldest due wait: the queue's
        figures over the user's webhooks, and nothing of other accounts'."""
        return await self._deliveries.account_queue_depth(user.id)

    async def recover(self, webhook: Webhook, *, since: Any, until: Any = None) -> int:
        """Queue again, in event order and with trigger `recover`, every dead letter with an event
        time in [since, until) (until: now) that never succeeded; how many. Bounded: a window of
        at most RECOVER_MAX_WINDOW_MS and at most RECOVER_MAX_DELIVERIES deliveries, refused
        whole (nothing changed) beyond either."""
        errors: list[str] = []
        if since is None:
            errors.append("since is required (an ISO 8601 time)")
        since_ms = _instant("since", since, errors)
        until_ms = _instant("until", until, errors)
        raise_if(errors)
        assert since_ms is not None
        if until_ms is None:
            until_ms = now_ms()
        days = RECOVER_MAX_WINDOW_MS // 86_400_000
        if since_ms >= until_ms:
            errors.append("since must be earlier than until")
        elif until_ms - since_ms > RECOVER_MAX_WINDOW_MS:
            errors.append(f"the window from since to until must be at most {days} days")
        raise_if(errors)
        ids = await self._deliveries.recover(
            webhook.id, since_ms, until_ms, RECOVER_MAX_DELIVERIES
        )
        if ids is None:
            raise ValidationFailed([
                f"more than {RECOVER_MAX_DELIVERIES} deliveries to recover in this window;"
                " recover a shorter window at a time"
            ])
        if ids:
            self._dispatcher.poke()
        return len(ids)

    async def test(self, webhook: Webhook) -> str:
        return await self._tests.send_test(webhook)

    async def redeliver(self, webhook: Webhook, log_id: str) -> str:
        """Deliver one logged event again, dead-lettered or delivered; its log id."""
        canonical = parse_uuid(log_id)
        entry = None if canonical is None else await self._deliveries.get_delivery(canonical)
        if entry is None or entry.webhook_id != webhook.id:
            raise NotFound("Webhook log not found")
        if entry.status is DeliveryStatus.PENDING:
            raise Conflict("This delivery is still pending; it will be attempted again by itself")
        if entry.status is DeliveryStatus.HELD:
            raise Conflict(
                "This delivery is held while the webhook is disabled; enable the webhook"
                " (active: true) to replay every held delivery in event order"
            )
        await self._deliveries.redeliver(webhook.id, [entry.id])
        self._dispatcher.poke()
        return entry.id

    async def redeliver_failed(self, webhook: Webhook) -> int:
        """Deliver every dead letter of the webhook again; how many."""
        ids = await self._deliveries.redeliver(webhook.id, None)
        self._dispatcher.poke()
        return len(ids)

    async def redeliver_matching(
        self,
        webhook: Webhook,
        *,
        event_type: str | None = None,
        since: str | None = None,
        until: str | None = None,
        status_class: str | None = None,
    ) -> int:
        """Deliver again the webhook's dead letters that match the log filters (checked as
        `logs` checks them); how many. More than RETRY_MATCHING_MAX is refused whole, so one
        action never half-applies nor floods a receiver."""
        found = await self.logs(
            webhook, status=DeliveryStatus.FAILED, limit=RETRY_MATCHING_MAX + 1, before=None,
            event_type=event_type, since=since, until=until, status_class=status_class,
        )
        if len(found) > RETRY_MATCHING_MAX:
            raise ValidationFailed([f"more than {RETRY_MATCHING_MAX} failed deliveries match"
                                    " these filters: narrow them (a time range) and retry"])
        if not found:
            return 0
        ids = await self._deliveries.redeliver(webhook.id, [entry.id for entry in found])
        self._dispatcher.poke()
        return len(ids)

    async def _checked_url(self, value: Any, errors: list[str]) -> str | None:
        if not isinstance(value, str):
            errors.append("url must be a URL address")
            return None
        try:
            return await self._targets.check_url_resolving(value)
        except InvalidTargetURL as exc:
            # The original's message first (clients may match it), then what exactly is wrong.
            errors.append("url must be a URL address")
            errors.append(str(exc))
        except TargetRefused as exc:
            errors.append(str(exc))
        return None


def _instant(name: str, value: Any, errors: list[str]) -> int | None:
    """An ISO 8601 time (a date alone is midnight; no offset means UTC) as Unix milliseconds."""
    if value is None:
        return None
    if isinstance(value, str):
        # A "+02:00" offset typed unencoded into a query string arrives as " 02:00".
        for text in (value, value.replace(" ", "+")):
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return int(moment.timestamp() * 1000)
    shown = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
    errors.append(f"{name} must be an ISO 8601 time such as 2026-03-14T10:00:00Z (got {shown})")
    return None
