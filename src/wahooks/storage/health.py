"""Endpoint health, written once for both backends: what one batch of outcomes says about each
webhook's endpoint, and when that disables the webhook.

A batch is folded into one update per webhook (the hot path pays one statement per batch, not
one per outcome). The rules (docs/delivery.md, "Endpoint health"):
* a success resets the streak: no consecutive dead letters, not failing;
* the first failed attempt after a success starts the failing period (`failing_since`);
* a webhook is disabled at once when its endpoint answers 410 Gone, and when it has been failing
  for at least `DisableRule.after_ms` with at least `DisableRule.min_dead_letters` consecutive
  dead letters, so neither a short outage nor a single bad event turns it off.
Only an enabled webhook (switched on, not disabled already) is disabled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from wahooks.models import DeliveryStatus, DisabledReason
from wahooks.storage.records import RecordedOutcome, WebhookStateChange

GONE = 410


@dataclass(frozen=True, slots=True)
class DisableRule:
    after_ms: int  # failing at least this long ...
    min_dead_letters: int  # ... with at least this many consecutive dead letters


# The defaults of WAHOOKS_DISABLE_AFTER and WAHOOKS_DISABLE_MIN_DEAD_LETTERS (config.py says why).
DEFAULT_DISABLE_RULE = DisableRule(after_ms=5 * 24 * 3600 * 1000, min_dead_letters=10)


@dataclass(slots=True)
class HealthUpdate:
    """One batch's news about one webhook's endpoint."""

    webhook_id: str
    success_at: int | None = None  # the latest success
    failure_at: int | None = None  # the latest failure
    succeeded: bool = False  # a success in this batch resets the streak
    dead_letters: int = 0  # since the batch's last success (all of them without one)
    first_failure: int | None = None  # the first failure since the batch's last success
    gone: bool = False


def health_updates(outcomes: Iterable[RecordedOutcome]) -> list[HealthUpdate]:
    """One update per webhook, the outcomes taken in the order they were recorded."""
    by_webhook: dict[str, HealthUpdate] = {}
    for recorded in outcomes:
        if not recorded.webhook_id:  # recorded without its webhook: nothing to tell
            continue
        update = by_webhook.get(recorded.webhook_id)
        if update is None:
            update = by_webhook[recorded.webhook_id] = HealthUpdate(recorded.webhook_id)
        outcome = recorded.outcome
        if outcome.succeeded:
            update.success_at = outcome.started_at
            update.succeeded = True
            update.dead_letters = 0
            update.first_failure = None
            continue
        update.failure_at = outcome.started_at
        if update.first_failure is None:
            update.first_failure = outcome.started_at
        if recorded.status is DeliveryStatus.FAILED:
            update.dead_letters += 1
        if outcome.status_code == GONE:
            update.gone = True
    return sorted(by_webhook.values(), key=lambda update: update.webhook_id)


def reason_to_disable(
    update: HealthUpdate,
    *,
    failing_since: int | None,
    consecutive_dead_letters: int,
    now: int,
    rule: DisableRule,
) -> DisabledReason | None:
    """Why the webhook must be disabled now, given its counters after the update; None: not."""
    if update.gone:
        return DisabledReason.GONE
    if (
        failing_since is not None and now - failing_since >= rule.after_ms
        and consecutive_dead_letters >= rule.min_dead_letters
    ):
        return DisabledReason.FAILING
    return None


def disable_where_due(
    rows: Iterable[Any], updates: list[HealthUpdate], *, now: int, rule: DisableRule
) -> tuple[set[str], list[WebhookStateChange]]:
    """From `update_health`'s rows (id, user_id, connection_id, active, disabled_reason,
    failing_since, consecutive_dead_letters, after the update): the ids of the batch's webhooks
    that are disabled (before or now), and those to disable now."""
    by_id = {update.webhook_id: update for update in updates}
    disabled: set[str] = set()
    changes: list[WebhookStateChange] = []
    for id_, user_id, connection_id, active, reason, failing_since, dead_letters in rows:
        webhook_id = str(id_)
        if reason is not None:
            disabled.add(webhook_id)
            continue
        new_reason = None if not active else reason_to_disable(
            by_id[webhook_id], failing_since=failing_since,
            consecutive_dead_letters=dead_letters, now=now, rule=rule,
        )
        if new_reason is not None:
            disabled.add(webhook_id)
            changes.append(WebhookStateChange(
                webhook_id, str(user_id), str(connection_id), new_reason, now
            ))
    return disabled, changes


def held_if_disabled(recorded: RecordedOutcome, disabled: set[str]) -> RecordedOutcome:
    """A disabled webhook's delivery that did not succeed is held, neither retried nor
    dead-lettered (the 410 that disabled it too): it is replayed when the webhook is enabled."""
    if recorded.webhook_id in disabled and recorded.status is not DeliveryStatus.DELIVERED:
        return replace(recorded, status=DeliveryStatus.HELD, retry_in_ms=None)
    return recorded
