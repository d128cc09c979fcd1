"""When to try a failed delivery again: a pure policy, no I/O.

The product page promises exponential backoff of 5, 10, 20, 40 and 80 seconds: after the first attempt
fails, five retries follow at those intervals, and when the last one fails the delivery is
dead-lettered. The schedule is a setting so tests can shorten it.

The policy sees the whole outcome (status, error class, duration, the receiver's Retry-After) so
that rules such as honouring Retry-After or treating a refused target differently have one place
to live. Backpressure: a 429 or 503 with Retry-After delays the next attempt to the later of the
schedule and the hint, the hint capped at `retry_after_max` (a receiver must not park a delivery
for days). A hint never brings a retry forward and never changes how many attempts are made
before the dead letter: it only stretches the wait. Retry-After on any other status is ignored
(RFC 9110 gives it meaning with 503 and 3xx; 429 by RFC 6585).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from enum import Enum

from wahooks.models import AttemptOutcome
from wahooks.value_records import value_record


class Verdict(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@value_record
class RetryDecision:
    verdict: Verdict
    delay: float = 0.0  # seconds until the next attempt, for RETRY


BACKPRESSURE_STATUSES = frozenset({429, 503})
DEFAULT_RETRY_AFTER_MAX = 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: tuple[float, ...]
    retry_after_max: float = DEFAULT_RETRY_AFTER_MAX

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.schedule)

    def decide(self, attempt_in_cycle: int, outcome: AttemptOutcome) -> RetryDecision:
        """The verdict after attempt number `attempt_in_cycle` (1-based, counted since the last
        redelivery) came to `outcome`."""
        if attempt_in_cycle < 1:
            raise ValueError("attempts are numbered from 1")
        if outcome.succeeded:
            return RetryDecision(Verdict.DELIVERED)
        if attempt_in_cycle > len(self.schedule):
            return RetryDecision(Verdict.DEAD_LETTER)
        delay = self.schedule[attempt_in_cycle - 1]
        hint = outcome.retry_after
        if hint is not None and outcome.status_code in BACKPRESSURE_STATUSES:
            delay = max(delay, min(hint, self.retry_after_max))
        return RetryDecision(Verdict.RETRY, delay)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from `now` (Unix seconds) that a Retry-After header value asks for: a
    number of seconds or an HTTP date (RFC 9110 section 10.2.3). A date in the past asks for 0;
    a value that is neither form is ignored (None), as a receiver's typo should not stop retries."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime form, or "-0000": HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
