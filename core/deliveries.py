"""The chat side of a job: its status message, and whether its result reached the chat; a result
that could not be sent goes out again when the person next writes to the bot."""

from __future__ import annotations

import uuid

from core.db import db
from core.enums import JobStatus
from core.models import Job, utcnow


def set_status_message(job_id, message_id: int) -> None:
    """Remember the chat message that shows this job's status."""
    Job.update(status_message_id=message_id).where(Job.id == uuid.UUID(str(job_id))).execute()


def record_delivery(job_id, error: str | None = None) -> bool:
    """Note that the result reached the chat (or why it could not); False if already recorded."""
    with db.atomic():
        return bool(Job.update(delivered_at=utcnow(), delivery_error=error)
                    .where(Job.id == uuid.UUID(str(job_id)), Job.delivered_at.is_null()).execute())


def _undelivered(user_id: int):
    return ((Job.user == user_id) & Job.chat_id.is_null(False) & Job.delivery_error.is_null(False)
            & Job.status.in_((JobStatus.DONE, JobStatus.FAILED)))


def claim_undelivered_results(user_id: int) -> list[str]:
    """The person's finished chat jobs whose result could not be sent (they had blocked the bot,
    or every try failed), each claimed for one more delivery: they are writing to us, so the chat
    works again. Claimed once: of two updates at once, one gets each job."""
    claimed = []
    for job in Job.select(Job.id).where(_undelivered(user_id)):
        with db.atomic():
            if Job.update(delivered_at=None, delivery_error=None).where(Job.id == job.id,
                                                                        _undelivered(user_id)).execute():
                claimed.append(str(job.id))
    return claimed
