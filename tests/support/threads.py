"""Races on purpose: actions started in threads and released at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable


def at_once(*actions: Callable[[], object], timeout: float = 30.0) -> list[object]:
    """Run every action in a thread of its own, all released together by a barrier; each one's
    return value, or the exception it raised, in the order given."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[object] = [None] * len(actions)

    def run(index: int, action: Callable[[], object]) -> None:
        barrier.wait()
        try:
            outcomes[index] = action()
        except Exception as exc:  # handed back to the caller, who asserts on it
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, action)) for i, action in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return outcomes
