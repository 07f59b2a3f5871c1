"""The sweeper's queries: jobs left queued or processing too long, and finished jobs whose
result never reached their chat; each claimed so that of several sweepers only one acts."""

from __future__ import annotations

import uuid
from datetime import timedelta

from core.db import db
from core.enums import ACTIVE, JobStatus
from core.models import Job, utcnow


def _stuck_since(older_than_seconds: int):
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    return ((Job.status == JobStatus.QUEUED) & (Job.queued_at < cutoff)
            | (Job.status == JobStatus.PROCESSING) & (Job.started_at < cutoff))


def stuck_jobs(older_than_seconds: int) -> list[str]:
    """Jobs queued or processing for longer than the timeout (a lost publish, a dead worker)."""
    query = Job.select(Job.id).where(_stuck_since(older_than_seconds))
    return [str(job.id) for job in query]


def claim_stuck_job(job_id, older_than_seconds: int) -> bool:
    """Like mark_republished, but only if the job is still stuck: of several sweepers (or a
    sweeper and a worker) at most one wins, so a job is not published twice needlessly."""
    with db.atomic():
        return bool(Job.update(status=JobStatus.QUEUED, queued_at=utcnow())
                    .where(Job.id == uuid.UUID(str(job_id)), _stuck_since(older_than_seconds)).execute())


def mark_republished(job_id) -> None:
    """Reset the sweeper's clock of a job that was published again."""
    with db.atomic():
        Job.update(status=JobStatus.QUEUED, queued_at=utcnow()).where(Job.id == uuid.UUID(str(job_id)),
                                                             Job.status.in_(ACTIVE)).execute()


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
