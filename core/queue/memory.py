"""The embedded default back end: queues inside this process, shared by its threads.

Nothing survives the process: at the next start, `make run` publishes again every job the
database still calls unfinished (worker.sweeper.republish_unfinished).
"""

from __future__ import annotations

import logging
import queue as stdlib_queue
import threading
from collections.abc import Callable

from core.queue.base import ACK, DEAD, Handler, JobQueue, encode, run_handler
from core.settings import Settings

logger = logging.getLogger(__name__)


class MemoryQueue(JobQueue):
    """Queues in this process; a retry waits on a timer; dead letters go to the dead-letter queue."""

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self._queues: dict[str, stdlib_queue.Queue] = {}
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._listeners: list[Callable[[str], None]] = []

    def _queue(self, name: str) -> stdlib_queue.Queue:
        with self._lock:
            return self._queues.setdefault(name, stdlib_queue.Queue())

    def _put(self, queue_name: str, body: bytes) -> None:
        self._queue(queue_name).put(body)

    def publish(self, queue_name: str, job_id: str) -> None:
        self._put(queue_name, encode(job_id))

    def publish_finished(self, job_id: str) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(str(job_id))

    def listen_finished(self, callback: Callable[[str], None], stop: threading.Event) -> None:
        with self._lock:
            self._listeners.append(callback)
        try:
            stop.wait()
        finally:
            with self._lock:
                self._listeners.remove(callback)

    def publish_later(self, queue_name: str, body: bytes, delay: float) -> None:
        def due() -> None:
            with self._lock:
                self._timers.discard(timer)
            self._put(queue_name, body)

        timer = threading.Timer(delay, due)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def consume(self, queue_name: str, handler: Handler, stop: threading.Event) -> None:
        q = self._queue(queue_name)
        while not stop.is_set():
            try:
                body = q.get(timeout=0.2)
            except stdlib_queue.Empty:
                continue
            outcome = run_handler(handler, body, queue_name)
            if outcome.action == DEAD:
                self._put(self.dead_letter_queue, body)
            elif outcome.action != ACK:
                self.publish_later(queue_name, outcome.body, outcome.delay)

    def depth(self, queue_name: str) -> int:
        return self._queue(queue_name).qsize()

    def waiting(self) -> int:
        """Messages waiting for their retry."""
        with self._lock:
            return len(self._timers)

    def close(self) -> None:
        """Drop the retries still waiting (the process is ending; see the module's note)."""
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
