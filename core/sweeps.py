"""The sweeper's queries: jobs whose publish never happened or whose worker is gone, and finished
jobs whose result never reached their chat; each claimed so that of several sweepers only one acts.

A job waiting in a long backlog is not touched: its message is with the broker (the publish was
confirmed) and a worker will get to it. Only a queue's own retries can lose it for good, and they
end within a day (core.retries.UNEXPECTED_FAILURE): a queued job published longer ago than that is
published again."""

from __future__ import annotations

import uuid
from datetime import timedelta

from core.db import db
from core.enums import ACTIVE, JobStatus
from core.models import Job, utcnow
from core.retries import UNEXPECTED_FAILURE


def _stuck_since(older_than_seconds: int):
    now = utcnow()
    never_published = ((Job.status == JobStatus.QUEUED) & Job.published_at.is_null()
                       & (Job.queued_at < now - timedelta(seconds=older_than_seconds)))
    worker_gone = (Job.status == JobStatus.PROCESSING) & (Job.lease_until < now)
    lost_in_retries = ((Job.status == JobStatus.QUEUED)
                       & (Job.published_at < now - timedelta(seconds=UNEXPECTED_FAILURE.max_age)))
    return never_published | worker_gone | lost_in_retries


def stuck_jobs(older_than_seconds: int) -> list[str]:
    """Jobs to publish again: never published STUCK_JOB_SECONDS after they were queued, or whose
    worker's lease ran out."""
    query = Job.select(Job.id).where(_stuck_since(older_than_seconds))
    return [str(job.id) for job in query]


def claim_stuck_job(job_id, older_than_seconds: int) -> bool:
    """Put a stuck job back in line for one more publish, only if it is still stuck: of several
    sweepers (or a sweeper and a worker) at most one wins, so it is not published twice."""
    with db.atomic():
        return bool(Job.update(**_requeued()).where(Job.id == uuid.UUID(str(job_id)),
                                                    _stuck_since(older_than_seconds)).execute())


def unfinished_jobs() -> list[str]:
    """Every job queued or processing (after a start of the in-process queue, which lost them all)."""
    return [str(job.id) for job in Job.select(Job.id).where(Job.status.in_(ACTIVE))]


def mark_republished(job_id) -> None:
    """Put an unfinished job back in line for the publish that follows."""
    with db.atomic():
        Job.update(**_requeued()).where(Job.id == uuid.UUID(str(job_id)), Job.status.in_(ACTIVE)).execute()


def _requeued() -> dict:
    return {"status": JobStatus.QUEUED, "queued_at": utcnow(), "published_at": None, "worker": None,
            "lease_until": None}


def _undelivered_since(older_than_seconds: int):
    now = utcnow()
    cutoff = now - timedelta(seconds=older_than_seconds)
    return (Job.chat_id.is_null(False) & Job.status.in_((JobStatus.DONE, JobStatus.FAILED)) & Job.delivered_at.is_null()
            & (Job.finished_at < cutoff) & (Job.finished_at > now - timedelta(days=1)) & (Job.queued_at < cutoff))


def claim_undelivered_jobs(older_than_seconds: int) -> list[str]:
    """Finished jobs of a chat with no delivery recorded long after they ended (a lost result
    event), from the last day, each claimed so that of several sweepers one publishes it again."""
    claimed = []
    for job in Job.select(Job.id).where(_undelivered_since(older_than_seconds)):
        with db.atomic():
            if Job.update(queued_at=utcnow()).where(Job.id == job.id,
                                                    _undelivered_since(older_than_seconds)).execute():
                claimed.append(str(job.id))
    return claimed
