"""The retry policy: the product page's schedule, exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wahooks.config import DEFAULT_RETRY_SCHEDULE
from wahooks.delivery.retry import RetryDecision, RetryPolicy, Verdict, parse_retry_after
from wahooks.models import AttemptOutcome, ErrorClass

PAGE = RetryPolicy(DEFAULT_RETRY_SCHEDULE)


def _outcome(succeeded: bool) -> AttemptOutcome:
    if succeeded:
        return AttemptOutcome(0, 1.0, 200, None)
    return AttemptOutcome(0, 1.0, 500, "HTTP 500: ", ErrorClass.HTTP_STATUS)


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
    assert PAGE.decide(attempt, _outcome(succeeded)) == expected


def test_six_attempts_in_all() -> None:
    assert PAGE.max_attempts == 6


def test_attempts_are_numbered_from_one() -> None:
    with pytest.raises(ValueError):
        PAGE.decide(0, _outcome(False))


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=20), st.integers(1, 50))
def test_any_schedule_retries_exactly_its_length_then_dead_letters(
    schedule: list[float], attempt: int
) -> None:
    decision = RetryPolicy(tuple(schedule)).decide(attempt, _outcome(False))
    if attempt <= len(schedule):
        assert decision == RetryDecision(Verdict.RETRY, schedule[attempt - 1])
    else:
        assert decision.verdict is Verdict.DEAD_LETTER


def _failure(
    status: int | None, error_class: ErrorClass, *, duration_ms: float = 1.0,
    retry_after: float | None = None,
) -> AttemptOutcome:
    return AttemptOutcome(0, duration_ms, status, "failed", error_class, retry_after)


# Every kind of failure follows the same schedule for now: the policy sees the whole outcome, but
# honouring Retry-After (or treating some classes differently) is a later change.
@pytest.mark.parametrize(
    "outcome",
    [
        _failure(None, ErrorClass.TIMEOUT, duration_ms=10_000.0),
        _failure(None, ErrorClass.CONNECT_REFUSED),
        _failure(None, ErrorClass.CONNECT_RESET),
        _failure(None, ErrorClass.DNS),
        _failure(None, ErrorClass.TLS),
        _failure(None, ErrorClass.TARGET_REFUSED),
        _failure(None, ErrorClass.RESPONSE_TOO_LARGE),
        _failure(None, ErrorClass.OTHER),
        _failure(301, ErrorClass.HTTP_STATUS),
        _failure(404, ErrorClass.HTTP_STATUS),
        _failure(429, ErrorClass.HTTP_STATUS, retry_after=3600.0),
        _failure(500, ErrorClass.HTTP_STATUS),
        _failure(503, ErrorClass.HTTP_STATUS, retry_after=0.0),
    ],
    ids=lambda o: f"{o.status_code}-{o.error_class}-{o.retry_after}",
)
@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (1, RetryDecision(Verdict.RETRY, 5)),
        (3, RetryDecision(Verdict.RETRY, 20)),
        (5, RetryDecision(Verdict.RETRY, 80)),
        (6, RetryDecision(Verdict.DEAD_LETTER)),
    ],
)
def test_every_failure_follows_the_schedule(
    outcome: AttemptOutcome, attempt: int, expected: RetryDecision
) -> None:
    assert PAGE.decide(attempt, outcome) == expected


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_delivered_even_with_retry_after(status: int) -> None:
    outcome = AttemptOutcome(0, 1.0, status, None, None, retry_after=30.0)
    assert PAGE.decide(6, outcome) == RetryDecision(Verdict.DELIVERED)


NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:29:30 GMT", 90.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: now
        ("Wednesday, 21-Oct-15 07:29:00 GMT", 60.0),  # RFC 850 form
        ("Wed Oct 21 07:28:10 2015", 10.0),  # asctime form, GMT without saying so
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        ("Wed, 21 Oct 99999 07:28:00 GMT", None),
        ("٣", None),  # a digit, but not an ASCII one
    ],
)
def test_retry_after_is_parsed_as_seconds_or_an_http_date(
    value: str | None, expected: float | None
) -> None:
    assert parse_retry_after(value, NOW) == expected
