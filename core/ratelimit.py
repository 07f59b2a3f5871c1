"""Rate limits and sign-in slow-downs counted in the database, so every panel process and every
host behind the proxy shares them (one atomic upsert per hit, on PostgreSQL and SQLite alike).

Two kinds of counter, both keyed by a string the caller builds ("register:203.0.113.7"):
- a window: at most `limit` hits per `seconds`, counted in fixed windows;
- a failure count: after FREE_FAILURES failures each try waits 2, 4, 8, ... seconds (at most
  MAX_WAIT_SECONDS) after the latest one; failures older than FAILURE_WINDOW_SECONDS are forgotten.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.db import db
from core.models import RateLimit

FREE_FAILURES = 5
FAILURE_WINDOW_SECONDS = 15 * 60
MAX_WAIT_SECONDS = 5 * 60
FORGET_AFTER_SECONDS = 2 * 86400  # longer than any window


@dataclass(frozen=True)
class Rule:
    """At most `limit` hits per `seconds` for each subject (an address, an account)."""

    name: str
    limit: int
    seconds: int


_WINDOW_SQL = (
    "INSERT INTO rate_limits (key, started, last, hits) VALUES (?, ?, ?, 1) "
    "ON CONFLICT (key) DO UPDATE SET "
    "hits = CASE WHEN rate_limits.started = excluded.started THEN rate_limits.hits + 1 ELSE 1 END, "
    "started = excluded.started, last = excluded.last "
    "RETURNING hits"
)
_FAILURE_SQL = (
    "INSERT INTO rate_limits (key, started, last, hits) VALUES (?, ?, ?, 1) "
    "ON CONFLICT (key) DO UPDATE SET "
    "hits = CASE WHEN rate_limits.last < ? THEN 1 ELSE rate_limits.hits + 1 END, "
    "started = CASE WHEN rate_limits.last < ? THEN excluded.started ELSE rate_limits.started END, "
    "last = excluded.last"
)


def _sql(text: str) -> str:
    return text.replace("?", "%s") if db.obj.param == "%s" else text


class Limiter:
    """The counters, with a clock that tests can move."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock

    def hit(self, rule: Rule, subject: str) -> float:
        """Count one hit of `subject` under `rule`; 0 when it is allowed, else the seconds until
        its window ends (what Retry-After says)."""
        now = self.clock()
        started = math.floor(now / rule.seconds) * rule.seconds
        key = f"{rule.name}:{subject}"[:255]
        with db.atomic():
            hits = db.execute_sql(_sql(_WINDOW_SQL), (key, started, now)).fetchone()[0]
        return 0.0 if hits <= rule.limit else max(started + rule.seconds - now, 1.0)

    def used(self, rule: Rule, subject: str) -> int:
        """Hits of `subject` in the current window of `rule` (read only)."""
        row = RateLimit.get_or_none(RateLimit.key == f"{rule.name}:{subject}"[:255])
        started = math.floor(self.clock() / rule.seconds) * rule.seconds
        return row.hits if row is not None and row.started == started else 0

    def failure_wait(self, keys: Iterable[str]) -> float:
        """Seconds until any of these failure counts lets a try through; 0 when none holds it."""
        now, wait = self.clock(), 0.0
        rows = RateLimit.select().where(RateLimit.key.in_([k[:255] for k in keys]),
                                        RateLimit.last >= now - FAILURE_WINDOW_SECONDS)
        for row in rows:
            if row.hits >= FREE_FAILURES:
                wait = max(wait, row.last + min(2.0 ** (row.hits - FREE_FAILURES + 1), MAX_WAIT_SECONDS) - now)
        return max(wait, 0.0)

    def over_ceiling(self, key: str, ceiling: int) -> float:
        """Seconds until a failure count of at most `ceiling` in FAILURE_WINDOW_SECONDS lets tries
        through again; 0 while it is below the ceiling."""
        now = self.clock()
        row = RateLimit.get_or_none(RateLimit.key == key[:255])
        if row is None or row.hits < ceiling or row.last < now - FAILURE_WINDOW_SECONDS:
            return 0.0
        return max(row.started + FAILURE_WINDOW_SECONDS - now, 1.0)

    def fail(self, keys: Iterable[str]) -> None:
        """Count a failure against each key."""
        now = self.clock()
        forgotten = now - FAILURE_WINDOW_SECONDS
        with db.atomic():
            for key in keys:
                db.execute_sql(_sql(_FAILURE_SQL), (key[:255], now, now, forgotten, forgotten))

    def forget(self, keys: Iterable[str]) -> None:
        """Clear these failure counts (a success)."""
        with db.atomic():
            RateLimit.delete().where(RateLimit.key.in_([k[:255] for k in keys])).execute()


def forget_old(now: float | None = None) -> int:
    """Delete counters nobody has hit for FORGET_AFTER_SECONDS (the sweeper does, now and then)."""
    cutoff = (time.time() if now is None else now) - FORGET_AFTER_SECONDS
    with db.atomic():
        return RateLimit.delete().where(RateLimit.last < cutoff).execute()
