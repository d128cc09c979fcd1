"""The endpoint health rules (storage/health.py), pure: how a batch of outcomes folds into one
update per webhook, and when an update disables the webhook."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wahooks.models import AttemptOutcome, DeliveryStatus, DisabledReason
from wahooks.storage.health import DisableRule, HealthUpdate, health_updates, reason_to_disable
from wahooks.storage.records import RecordedOutcome

DAY = 24 * 3600 * 1000


def _recorded(webhook: str, at: int, status_code: int | None, status: DeliveryStatus
              ) -> RecordedOutcome:
    return RecordedOutcome(
        f"d{at}", 1, AttemptOutcome(at, 1.0, status_code, None), status, None, webhook_id=webhook
    )


def test_a_batch_folds_into_one_update_per_webhook_in_the_order_recorded() -> None:
    updates = health_updates([
        _recorded("b", 1, 500, DeliveryStatus.FAILED),
        _recorded("a", 2, 500, DeliveryStatus.PENDING),
        _recorded("a", 3, 200, DeliveryStatus.DELIVERED),
        _recorded("a", 4, 503, DeliveryStatus.FAILED),
        _recorded("a", 5, None, DeliveryStatus.FAILED),
        _recorded("", 6, 410, DeliveryStatus.FAILED),  # no webhook: nothing to tell
    ])
    assert updates == [
        HealthUpdate("a", success_at=3, failure_at=5, succeeded=True, dead_letters=2,
                     first_failure=4, gone=False),
        HealthUpdate("b", success_at=None, failure_at=1, succeeded=False, dead_letters=1,
                     first_failure=1, gone=False),
    ]


def test_a_410_anywhere_in_the_batch_marks_it_gone() -> None:
    (update,) = health_updates([
        _recorded("a", 1, 410, DeliveryStatus.PENDING),
        _recorded("a", 2, 200, DeliveryStatus.DELIVERED),
    ])
    assert update.gone and update.succeeded


RULE = DisableRule(after_ms=5 * DAY, min_dead_letters=10)


@pytest.mark.parametrize(("failing_for", "dead_letters", "gone", "expected"), [
    (0, 0, True, DisabledReason.GONE),  # a 410 needs no grace
    (5 * DAY, 10, False, DisabledReason.FAILING),
    (5 * DAY - 1, 10, False, None),  # not long enough
    (30 * DAY, 9, False, None),  # long, but too few dead letters (a quiet webhook)
    (None, 50, False, None),  # not failing now (its last attempt succeeded)
])
def test_when_an_update_disables(
    failing_for: int | None, dead_letters: int, gone: bool, expected: DisabledReason | None
) -> None:
    now = 100 * DAY
    reason = reason_to_disable(
        HealthUpdate("a", gone=gone),
        failing_since=None if failing_for is None else now - failing_for,
        consecutive_dead_letters=dead_letters, now=now, rule=RULE,
    )
    assert reason is expected


@given(st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from([200, 410, 500, None]),
                          st.sampled_from(list(DeliveryStatus))), max_size=30))
def test_folding_in_one_batch_or_one_by_one_agrees(
    items: list[tuple[str, int | None, DeliveryStatus]],
) -> None:
    """Applying a batch's update to the counters is the same as applying each outcome's."""
    outcomes = [_recorded(w, n, code, status) for n, (w, code, status) in enumerate(items)]

    def apply(counters: dict[str, tuple[int, int | None]], update: HealthUpdate) -> None:
        dead, since = counters.get(update.webhook_id, (0, None))
        if update.succeeded:
            counters[update.webhook_id] = (update.dead_letters, update.first_failure)
        else:
            counters[update.webhook_id] = (
                dead + update.dead_letters, since if since is not None else update.first_failure
            )

    batched: dict[str, tuple[int, int | None]] = {}
    for update in health_updates(outcomes):
        apply(batched, update)
    one_by_one: dict[str, tuple[int, int | None]] = {}
    for outcome in outcomes:
        for update in health_updates([outcome]):
            apply(one_by_one, update)
    assert batched == one_by_one
