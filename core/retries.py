"""Bounded retries: how long to wait before the next attempt, and when to stop trying."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n (from 1) waits base_delay * 2**(n-1) seconds, at most max_delay; a message that
    has been tried max_attempts times, or first tried more than max_age seconds ago, is done."""

    max_attempts: int
    max_age: float
    base_delay: float = 1.0
    max_delay: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds before the attempt after `attempt` (which counts from 1)."""
        return min(self.base_delay * 2 ** max(attempt - 1, 0), self.max_delay)

    def exhausted(self, attempt: int, since: float | None, now: float | None = None) -> bool:
        """True when `attempt` attempts, the first at `since` (epoch seconds), are all there may be."""
        now = time.time() if now is None else now
        return attempt >= self.max_attempts or (since is not None and now - since > self.max_age)


# What a queue does for a handler that fails without saying how to retry (the database is down,
# say): every message's retries end, in the dead-letter queue, within a day.
UNEXPECTED_FAILURE = RetryPolicy(max_attempts=30, max_age=24 * 3600, base_delay=1.0, max_delay=300.0)
