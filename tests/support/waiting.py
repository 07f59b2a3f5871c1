"""Polling with a deadline, the tests' way of waiting for another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition",
             logs: Callable[[], str] | None = None):
    """Poll until `predicate()` is truthy and return its value; fail after `timeout` seconds
    (with `logs()`, say a worker's output, in the message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n--- worker log ---\n{logs()}" if logs else ""))
