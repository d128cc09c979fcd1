"""When to try a failed delivery again: a pure policy, no I/O.

The product page promises exponential backoff of 5, 10, 20, 40 and 80 seconds: after the first attempt
fails, five retries follow at those intervals, and when the last one fails the delivery is
dead-lettered. The schedule is a setting so tests can shorten it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class RetryDecision:
    verdict: Verdict
    delay: float = 0.0  # seconds until the next attempt, for RETRY


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: tuple[float, ...]

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.schedule)

    def decide(self, attempt_in_cycle: int, succeeded: bool) -> RetryDecision:
        """The verdict after attempt number `attempt_in_cycle` (1-based, counted since the last
        redelivery) succeeded or failed."""
        if attempt_in_cycle < 1:
            raise ValueError("attempts are numbered from 1")
        if succeeded:
            return RetryDecision(Verdict.DELIVERED)
        if attempt_in_cycle <= len(self.schedule):
            return RetryDecision(Verdict.RETRY, self.schedule[attempt_in_cycle - 1])
        return RetryDecision(Verdict.DEAD_LETTER)
