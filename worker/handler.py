"""One job message, handled to its end. Idempotent: the database, not the message, is the truth."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from core import jobs
from core.db import connection_scope, through_outages
from core.enums import JobStatus
from core.errors import ImageTooLarge, InvalidImage, JobNotFound, QueueUnavailable
from core.failures import PROCESSING_FAILED, TRYING_AGAIN
from core.metrics import WORKER_IN_HAND, WORKER_JOBS, WORKER_QUEUE_WAIT, stage
from core.queue import JobQueue, Reject, RetryLater
from core.settings import Settings
from core.storage import Store, mask_key, output_key
from core.views import JobView
from worker.memory import release_freed_memory

logger = logging.getLogger(__name__)

# A retry never waits longer than this, however many attempts are allowed.
MAX_RETRY_DELAY_SECONDS = 300.0
# Tries of the final result event before it is given up (the job itself is already done).
RESULT_PUBLISH_TRIES = 3
# Freed memory goes back to the system once nothing has been in hand this long: a worker between
# two photos of one person keeps it (handing it back, then faulting it in again, made each lone
# photo ~30 ms slower), a worker that has gone quiet after a burst does not hold it for hours.
IDLE_TRIM_SECONDS = 10.0

Process = Callable[..., object]  # worker.pipeline.process_image or a stand-in of the same shape
T = TypeVar("T")


def default_process() -> Process:
    """The real pipeline (imported late: it pulls in rembg and onnxruntime)."""
    from worker.pipeline import process_image

    return process_image


def retry_delay(settings: Settings, attempt: int) -> float:
    """RETRY_BACKOFF_SECONDS after the first attempt, doubling after each later one."""
    return min(settings.retry_backoff_seconds * 2 ** max(attempt - 1, 0), MAX_RETRY_DELAY_SECONDS)


class JobHandler:
    """The queue handler of input_queue: returns when the message may be acked, raises Reject
    for a message that can never succeed."""

    def __init__(self, settings: Settings, queue: JobQueue, storage: Store, engine,
                 stop: threading.Event, process: Process | None = None):
        self.settings, self.queue, self.storage, self.engine, self.stop = settings, queue, storage, engine, stop
        self.process = process or default_process()
        self.name = f"{socket.gethostname()}:{os.getpid()}"  # who holds the leases of this process
        self._in_hand: set[str] = set()
        self._lock = threading.Lock()
        self._idle_since: float | None = time.monotonic()
        self._trimmed = True  # nothing freed yet

    def __call__(self, message: dict) -> None:
        self._held(self._handle_in_scope, message)

    def _handle_in_scope(self, message: dict) -> None:
        # One connection scope per message: between messages an idle worker holds no pooled connection.
        with connection_scope():
            self._handle(message)

    def _held(self, step: Callable[..., T], *args, **kwargs) -> T:
        """A step that needs the database: while it is away, keep the message (and the job) in hand
        and take the step once it is back, so nothing is dropped, retried early or made twice
        (the model's work is kept: each step after it waits on its own). If the worker is
        stopped first, DatabaseUnavailable sends the message back to the queue."""
        return through_outages(self.stop, step, *args, **kwargs)

    def _handle(self, message: dict) -> None:
        job_id = str(message["job_id"])
        log = logging.LoggerAdapter(logger, {"job_id": job_id})
        try:
            job = jobs.get_job(job_id)
        except JobNotFound:
            raise Reject(f"job {job_id} does not exist") from None
        if job.is_finished:
            log.info("job is already %s; message ignored", job.status)
            WORKER_JOBS.labels("skipped").inc()
            return
        if self._leased_elsewhere(job, message, log):
            WORKER_JOBS.labels("skipped").inc()
            return
        if job.attempts >= self.settings.max_attempts:
            # Every earlier attempt died without an answer (a worker killed mid-job): stop here.
            self._fail(job, f"Processing did not finish after {job.attempts} attempts.", log)
            return
        started = jobs.start_job(job_id, worker=self.name, lease_seconds=self.settings.job_lease_seconds)
        if started is None:
            log.info("job was taken or finished meanwhile; message ignored")
            WORKER_JOBS.labels("skipped").inc()
            return
        if started.started_at and started.created_at:
            WORKER_QUEUE_WAIT.observe(max(0.0, (started.started_at - started.created_at).total_seconds()))
        with self._lock:
            self._in_hand.add(job_id)
            self._idle_since = None
            WORKER_IN_HAND.set(len(self._in_hand))
        try:
            self._run(started, log)
        finally:
            with self._lock:
                self._in_hand.discard(job_id)
                WORKER_IN_HAND.set(len(self._in_hand))
                if not self._in_hand:
                    self._idle_since, self._trimmed = time.monotonic(), False

    def _leased_elsewhere(self, job: JobView, message: dict, log: logging.LoggerAdapter) -> bool:
        """True (the message is settled here) while another worker's lease on the job is live. A
        duplicate is dropped; a message handed out again (its consumer died) waits for the lease:
        if that worker died too, the lease runs out and this message takes the job."""
        remaining = job.lease_seconds_left()
        if not remaining:
            return False
        if message.get("redelivered"):
            raise RetryLater(remaining + 1, f"job {job.id} is leased by {job.worker} for {remaining:.0f} s more")
        log.info("job is in the hands of %s until %s; duplicate message ignored", job.worker, job.lease_until)
        return True

    def renew_leases(self) -> None:
        """Extend the leases of the jobs in hand: this worker is alive."""
        with self._lock:
            in_hand = sorted(self._in_hand)
        if in_hand:
            with connection_scope():
                jobs.renew_leases(in_hand, self.name, self.settings.job_lease_seconds)

    def _run(self, job: JobView, log: logging.LoggerAdapter) -> None:
        log.info("attempt %d of %d started", job.attempts, self.settings.max_attempts)
        self._notify(job, tries=1, log=log)  # lets the bot show "processing"
        began = time.monotonic()
        try:
            result = self._cut_out(job)
        except (InvalidImage, ImageTooLarge) as exc:
            self._fail(job, exc.message, log)
            return
        except Exception as exc:
            self._retry_or_fail(job, exc, log)
            return
        output, content_type, mask = result
        model = getattr(self.engine, "model_name", None)
        if self._held(jobs.complete_job, job.id, output_key=output, content_type=content_type, mask_key=mask,
                      model=model) or self._finished_here(job, JobStatus.DONE, output_key=output):
            log.info("job done in %.2f s", time.monotonic() - began)
            WORKER_JOBS.labels("done").inc()
            self._announce(job, log)
            self._notify(job, tries=RESULT_PUBLISH_TRIES, log=log)
        else:
            log.info("job was finished elsewhere; this result is not announced")

    def _cut_out(self, job: JobView) -> tuple[str, str, str | None]:
        """Read the input, run the pipeline, store the output and the model's mask; return the
        output's key and content type, and the mask's key (None from a pipeline without one)."""
        if not job.input_key:
            raise InvalidImage("The uploaded photo is no longer stored.")
        try:
            with stage("download"):
                data = self.storage.get(job.input_key)
        except FileNotFoundError:
            raise InvalidImage("The uploaded photo is no longer stored.") from None
        # decode, inference and encode are timed inside the pipeline
        result = self.process(data, job.options, self.engine, max_bytes=self.settings.max_upload_bytes,
                              max_pixels=self.settings.max_pixels)
        key = output_key(job.id, job.options.extension)
        mask_png = getattr(result, "mask_png", None)  # a stand-in pipeline may have none
        with stage("upload"):
            self.storage.put(key, result.data)
            if mask_png is not None:
                self.storage.put(mask_key(job.id), mask_png)
        return key, result.content_type, mask_key(job.id) if mask_png is not None else None

    def _retry_or_fail(self, job: JobView, exc: Exception, log: logging.LoggerAdapter) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:500]  # for the log only
        if job.attempts >= self.settings.max_attempts:
            log.error("attempt %d failed (%s); giving up", job.attempts, reason, exc_info=exc)
            self._fail(job, PROCESSING_FAILED, log)
            return
        delay = retry_delay(self.settings, job.attempts)
        log.warning("attempt %d failed (%s); trying again in %.1f s", job.attempts, reason, delay,
                    exc_info=exc)
        if self._held(jobs.requeue_job, job.id, error=TRYING_AGAIN):
            WORKER_JOBS.labels("retried").inc()
            # The queue hands the message back after the delay (core.queue): this thread is free meanwhile.
            raise RetryLater(delay, reason)

    def _finished_here(self, job: JobView, status: str, **fields) -> bool:
        """Whether this worker's own finish committed although its answer was lost (the database
        went away at that moment, and the step taken again found the job finished): the job
        shows this worker's status and fields. Then it is announced all the same."""
        now = self._held(jobs.get_job, job.id)
        return (now.status == status and now.worker == self.name
                and all(getattr(now, name) == value for name, value in fields.items()))

    def _fail(self, job: JobView, reason: str, log: logging.LoggerAdapter) -> None:
        if self._held(jobs.fail_job, job.id, reason) or self._finished_here(job, JobStatus.FAILED, error=reason):
            log.warning("job failed and was refunded: %s", reason)
            WORKER_JOBS.labels("failed").inc()
            self._announce(job, log)
            self._notify(job, tries=RESULT_PUBLISH_TRIES, log=log)

    def _announce(self, job: JobView, log: logging.LoggerAdapter) -> None:
        """Wake whoever waits for this job (a synchronous API request); they read the database
        now and then anyway, so a lost event costs them seconds, not the answer."""
        try:
            self.queue.publish_finished(job.id)
        except QueueUnavailable as exc:
            log.info("finished event not published (%s)", exc)

    def _notify(self, job: JobView, *, tries: int, log: logging.LoggerAdapter) -> None:
        """Publish a result event, only for jobs with a chat to deliver to."""
        if job.chat_id is None:
            return
        for attempt in range(1, tries + 1):
            try:
                self.queue.publish_result(job.id)
                return
            except QueueUnavailable as exc:
                if attempt == tries:
                    log.error("result event not published (%s); the chat is not told", exc)
                    return
                self.stop.wait(attempt)

    def release_memory_if_idle(self, after: float | None = None) -> bool:
        """Hand freed memory back to the system once nothing has been in hand for `after` seconds
        (IDLE_TRIM_SECONDS); once per idle spell. True if it did."""
        after = IDLE_TRIM_SECONDS if after is None else after
        with self._lock:
            due = (self._idle_since is not None and not self._trimmed
                   and time.monotonic() - self._idle_since >= after)
            if due:
                self._trimmed = True
        if due:
            release_freed_memory()
        return due

    def in_hand(self) -> list[str]:
        """Jobs being processed right now (to hand back on a forced shutdown)."""
        with self._lock:
            return sorted(self._in_hand)
