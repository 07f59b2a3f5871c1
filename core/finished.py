"""Waiting for a job to finish without reading the database in a loop: workers announce each
finished job (JobQueue.publish_finished), one listener thread per process hears them, and each
waiting request sleeps on its own event until its job's announcement wakes it. The database is
still the truth: a waiter reads the job when it starts, when it is woken, and every
SAFETY_SECONDS in case an announcement was lost (a broker restart)."""

from __future__ import annotations

import logging
import threading
import time

from core.db import rest_connection
from core.jobs import get_job
from core.views import JobView

logger = logging.getLogger(__name__)

SAFETY_SECONDS = 5.0


class FinishedJobs:
    """This process's waiters and the listener that wakes them (started by the first wait)."""

    def __init__(self, queue):
        self.queue = queue
        self._waiting: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    def wait(self, job_id: str, user_id: int | None, timeout: float) -> JobView:
        """The job once it is finished, or as it is after `timeout` seconds (get_job's rules)."""
        self._listen()
        job_id, event = str(get_job(job_id, user_id).id), threading.Event()
        with self._lock:
            self._waiting.setdefault(job_id, set()).add(event)
        try:
            deadline = time.monotonic() + timeout
            while True:
                job = get_job(job_id, user_id)
                left = deadline - time.monotonic()
                if job.is_finished or left <= 0:
                    return job
                rest_connection()  # many may wait at once; the pool serves the ones that work
                event.wait(min(left, SAFETY_SECONDS))
                event.clear()
        finally:
            with self._lock:
                waiters = self._waiting.get(job_id, set())
                waiters.discard(event)
                if not waiters:
                    self._waiting.pop(job_id, None)

    def waiting(self) -> int:
        """Requests waiting now."""
        with self._lock:
            return sum(len(events) for events in self._waiting.values())

    def wake(self, job_id: str) -> None:
        """A job finished: wake whoever waits for it here."""
        with self._lock:
            events = list(self._waiting.get(str(job_id), ()))
        for event in events:
            event.set()

    def _listen(self) -> None:
        with self._lock:
            if self._listener is not None and self._listener.is_alive():
                return
            self._listener = threading.Thread(target=self._run, name="finished-jobs", daemon=True)
            self._listener.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.queue.listen_finished(self.wake, self._stop)
            except Exception:
                logger.exception("the listener of finished jobs failed; starting again")
                self._stop.wait(1.0)

    def close(self) -> None:
        """Stop listening (waiters fall back to reading the database)."""
        self._stop.set()
