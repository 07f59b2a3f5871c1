"""Slows down repeated failed sign-ins, per email and per client address.

In-process: each server process keeps its own counts (with N gunicorn workers an attacker gets
at most N times the allowance). Enough for one host; a shared store would be needed beyond that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from core.errors import CutoutError

FREE_FAILURES = 5  # failures allowed before any wait
WINDOW_SECONDS = 15 * 60  # failures older than this are forgotten
MAX_WAIT_SECONDS = 5 * 60


class TooManyAttempts(CutoutError):
    """Too many failed sign-ins; wait a little."""

    code = "too_many_attempts"

    def __init__(self, message: str | None = None, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class LoginLimiter:
    """After FREE_FAILURES failures a key must wait 2, 4, 8, ... seconds (capped) between tries."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, time of the last failure)

    def _current(self, key: str, now: float) -> tuple[int, float]:
        count, last = self._failures.get(key, (0, 0.0))
        if count and now - last > WINDOW_SECONDS:
            self._failures.pop(key, None)
            return 0, 0.0
        return count, last

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until any of these keys may try again; 0 when they may try now."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                count, last = self._current(key, now)
                if count >= FREE_FAILURES:
                    delay = min(2.0 ** (count - FREE_FAILURES + 1), MAX_WAIT_SECONDS)
                    wait = max(wait, last + delay - now)
        return max(wait, 0.0)

    def failure(self, keys: Iterable[str]) -> None:
        """Count a failed attempt against each key."""
        now = self._clock()
        with self._lock:
            if len(self._failures) >= self._max_keys:
                self._forget_old(now)
            for key in keys:
                count, _ = self._current(key, now)
                self._failures[key] = (count + 1, now)

    def success(self, keys: Iterable[str]) -> None:
        """Forget the failures of these keys."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _forget_old(self, now: float) -> None:
        for key in [k for k, (_, last) in self._failures.items() if now - last > WINDOW_SECONDS]:
            del self._failures[key]
        if len(self._failures) >= self._max_keys:  # still full: drop the oldest half
            for key in sorted(self._failures, key=lambda k: self._failures[k][1])[: self._max_keys // 2]:
                del self._failures[key]


def login_keys(email: str, address: str | None) -> list[str]:
    """The limiter keys of one attempt: the (normalised) email and the client's address."""
    return [f"email:{(email or '').strip().lower()[:254]}", f"addr:{address or '?'}"]
