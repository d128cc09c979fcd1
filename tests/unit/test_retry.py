"""The retry policy: the product page's schedule, exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wahooks.config import DEFAULT_RETRY_SCHEDULE
from wahooks.delivery.retry import RetryDecision, RetryPolicy, Verdict

PAGE = RetryPolicy(DEFAULT_RETRY_SCHEDULE)


@pytest.mark.parametrize(
    ("attempt", "succeeded", "expected"),
    [
        (1, True, RetryDecision(Verdict.DELIVERED)),
        (1, False, RetryDecision(Verdict.RETRY, 5)),
        (2, False, RetryDecision(Verdict.RETRY, 10)),
        (3, False, RetryDecision(Verdict.RETRY, 20)),
        (4, False, RetryDecision(Verdict.RETRY, 40)),
        (5, False, RetryDecision(Verdict.RETRY, 80)),
        (6, False, RetryDecision(Verdict.DEAD_LETTER)),
        (6, True, RetryDecision(Verdict.DELIVERED)),
    ],
)
def test_the_product_page_schedule(attempt: int, succeeded: bool, expected: RetryDecision) -> None:
    assert PAGE.decide(attempt, succeeded) == expected


def test_six_attempts_in_all() -> None:
    assert PAGE.max_attempts == 6


def test_attempts_are_numbered_from_one() -> None:
    with pytest.raises(ValueError):
        PAGE.decide(0, False)


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=20), st.integers(1, 50))
def test_any_schedule_retries_exactly_its_length_then_dead_letters(
    schedule: list[float], attempt: int
) -> None:
    decision = RetryPolicy(tuple(schedule)).decide(attempt, False)
    if attempt <= len(schedule):
        assert decision == RetryDecision(Verdict.RETRY, schedule[attempt - 1])
    else:
        assert decision.verdict is Verdict.DEAD_LETTER
