"""The retry policy: the product page's schedule, exactly, stretched (never shortened) by a 429 or
503's Retry-After."""

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


# Every kind of failure follows the same schedule; Retry-After only counts on 429 and 503 (below),
# and a hint shorter than the schedule changes nothing.
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
        _failure(429, ErrorClass.HTTP_STATUS, retry_after=1.0),
        _failure(429, ErrorClass.HTTP_STATUS),
        _failure(500, ErrorClass.HTTP_STATUS),
        _failure(500, ErrorClass.HTTP_STATUS, retry_after=3600.0),  # not a backpressure status
        _failure(302, ErrorClass.HTTP_STATUS, retry_after=3600.0),
        _failure(503, ErrorClass.HTTP_STATUS),
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


CAPPED = RetryPolicy(DEFAULT_RETRY_SCHEDULE, retry_after_max=600.0)


@pytest.mark.parametrize(
    ("status", "attempt", "hint", "expected_delay"),
    [
        (429, 1, 30.0, 30.0),  # the hint is later than the schedule's 5 s: it wins
        (503, 1, 30.0, 30.0),
        (429, 1, 5.0, 5.0),  # equal
        (429, 1, 2.0, 5.0),  # earlier than the schedule: the schedule wins
        (503, 1, 0.0, 5.0),  # "retry now" never brings a retry forward
        (429, 4, 60.0, 60.0),  # schedule 40 s
        (429, 5, 60.0, 80.0),  # schedule 80 s
        (429, 2, 3600.0, 600.0),  # capped by the setting
        (503, 2, 1e9, 600.0),
        (429, 5, 1e9, 600.0),
        (429, 3, None, 20.0),  # no hint (or an unreadable one): the schedule
        (500, 1, 30.0, 5.0),  # other statuses: the hint is ignored
        (502, 1, 30.0, 5.0),
        (404, 1, 30.0, 5.0),
    ],
)
def test_retry_after_delays_a_429_or_503_to_the_later_of_schedule_and_hint(
    status: int, attempt: int, hint: float | None, expected_delay: float
) -> None:
    outcome = _failure(status, ErrorClass.HTTP_STATUS, retry_after=hint)
    assert CAPPED.decide(attempt, outcome) == RetryDecision(Verdict.RETRY, expected_delay)


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("hint", [0.0, 1.0, 5.0, 3600.0, 1e9])
def test_a_hint_never_changes_the_number_of_attempts(status: int, hint: float) -> None:
    outcome = _failure(status, ErrorClass.HTTP_STATUS, retry_after=hint)
    verdicts = [CAPPED.decide(attempt, outcome).verdict for attempt in range(1, 7)]
    assert verdicts == [Verdict.RETRY] * 5 + [Verdict.DEAD_LETTER]


@given(
    st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=10),
    st.floats(min_value=0, max_value=1e7),
    st.floats(min_value=0, max_value=1e7),
    st.sampled_from([429, 503]),
)
def test_a_hint_stretches_the_wait_within_the_cap_and_never_shortens_it(
    schedule: list[float], hint: float, cap: float, status: int
) -> None:
    policy = RetryPolicy(tuple(schedule), retry_after_max=cap)
    outcome = _failure(status, ErrorClass.HTTP_STATUS, retry_after=hint)
    for attempt, scheduled in enumerate(schedule, start=1):
        delay = policy.decide(attempt, outcome).delay
        assert delay >= scheduled
        assert delay <= max(scheduled, cap)
        assert delay == max(scheduled, min(hint, cap))
    assert policy.decide(len(schedule) + 1, outcome).verdict is Verdict.DEAD_LETTER


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
