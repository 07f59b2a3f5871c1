"""The sweeper: publishes again the jobs that a lost publish or a dead worker left behind."""

from __future__ import annotations

import logging
import threading

from core import jobs, ratelimit, sweeps
from core.errors import DatabaseUnavailable, QueueUnavailable
from core.queue import JobQueue
from core.settings import Settings

logger = logging.getLogger(__name__)


def sweep_once(settings: Settings, queue: JobQueue) -> int:
    """Publish again every job whose publish never happened or whose worker is gone; return how many."""
    published = 0
    for job_id in sweeps.stuck_jobs(settings.stuck_job_seconds):
        # Claiming first means that of several sweepers only one publishes the job.
        if not sweeps.claim_stuck_job(job_id, settings.stuck_job_seconds):
            continue
        logger.warning("job was stuck; publishing it again", extra={"job_id": job_id})
        published += jobs.try_publish(queue, job_id)
    ratelimit.forget_old()  # counters of the panel's limits nobody has hit for two days
    return published + _republish_results(settings, queue)


def _republish_results(settings: Settings, queue: JobQueue) -> int:
    """Publish again the result events of finished jobs that never reached their chat."""
    published = 0
    for job_id in sweeps.claim_undelivered_jobs(settings.stuck_job_seconds):
        logger.warning("finished job was never delivered; publishing its result event again", extra={"job_id": job_id})
        try:
            queue.publish_result(job_id)
            published += 1
        except QueueUnavailable as exc:
            logger.error("cannot publish the result event again (%s); next sweep tries again", exc,
                         extra={"job_id": job_id})
    return published


def republish_unfinished(queue: JobQueue) -> int:
    """Publish every queued or processing job: after a start, the in-process queue is empty and
    no thread of this process holds a job, so whatever the database still calls unfinished
    would otherwise wait for the sweeper's timeout."""
    job_ids = sweeps.unfinished_jobs()
    for job_id in job_ids:
        sweeps.mark_republished(job_id)
        jobs.try_publish(queue, job_id)
    if job_ids:
        logger.info("published %d unfinished jobs again after the start", len(job_ids))
    return len(job_ids)


def run_sweeper(settings: Settings, queue: JobQueue, stop: threading.Event) -> None:
    """Sweep now, then every SWEEP_INTERVAL_SECONDS, until `stop` is set."""
    while not stop.is_set():
        try:
            count = sweep_once(settings, queue)
            if count:
                logger.info("sweeper published %d stuck jobs", count)
        except DatabaseUnavailable:  # logged once per outage by core; the next round looks again
            pass
        except Exception:
            logger.exception("sweep failed; trying again in %s s", settings.sweep_interval_seconds)
        stop.wait(max(settings.sweep_interval_seconds, 1))


def start_sweeper(settings: Settings, queue: JobQueue, stop: threading.Event) -> threading.Thread:
    """The sweeper on a thread of its own."""
    thread = threading.Thread(target=run_sweeper, args=(settings, queue, stop), name="sweeper", daemon=True)
    thread.start()
    return thread
