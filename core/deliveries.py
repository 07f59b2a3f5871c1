"""The chat side of a job: its status message, and whether its result reached the chat; a result
that could not be sent goes out again when the person next writes to the bot."""

from __future__ import annotations

import uuid

from core.db import db
from core.enums import JobSource, JobStatus
from core.models import Job, User, utcnow
from core.views import JobView

TELEGRAM_PHOTO_NAME = "photo.jpg"  # what a job from a Telegram photo (no file name of its own) is called
# The longest side of the largest size Telegram keeps of a photo it compressed (clients send 1280
# px, or 2560 px in high quality): a photo of exactly that size was most likely made smaller.
TELEGRAM_PHOTO_SIDES = (1280, 2560)


def set_status_message(job_id, message_id: int) -> None:
    """Remember the chat message that shows this job's status."""
    Job.update(status_message_id=message_id).where(Job.id == uuid.UUID(str(job_id))).execute()


def record_delivery(job_id, error: str | None = None, *, tip_given: bool = False) -> bool:
    """Note that the result reached the chat (or why it could not), and, with `tip_given`, that
    its person has now been told to send photos as files; False if already recorded."""
    with db.atomic():
        recorded = bool(Job.update(delivered_at=utcnow(), delivery_error=error)
                        .where(Job.id == uuid.UUID(str(job_id)), Job.delivered_at.is_null()).execute())
        if recorded and tip_given:
            User.update(told_send_as_file=True).where(
                User.id == Job.select(Job.user).where(Job.id == uuid.UUID(str(job_id)))).execute()
        return recorded


def send_as_file_tip_due(job: JobView) -> bool:
    """Whether this job's result should say that a photo sent as a file keeps its full resolution:
    a Telegram photo that Telegram most likely made smaller, as a file (a sticker is 512 px
    whatever was sent), for a person not told yet. Told once the result is delivered with it
    (record_delivery(..., tip_given=True))."""
    if job.source != JobSource.TELEGRAM or job.input_name != TELEGRAM_PHOTO_NAME or job.options.mode == "sticker":
        return False
    if max(job.width or 0, job.height or 0) not in TELEGRAM_PHOTO_SIDES:
        return False
    return not User.get_by_id(job.user_id).told_send_as_file


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
