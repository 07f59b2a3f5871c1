"""Jobs: submit (charge + create in one transaction), run, finish, fail with refund, cancel."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from peewee import fn

from core import billing
from core.accounts import require_active
from core.db import db
from core.errors import InvalidJobState, JobNotFound, QueueUnavailable, TooManyJobs
from core.images import inspect_image
from core.models import Job, Transaction, utcnow
from core.options import JobOptions, parse_options
from core.settings import Settings
from core.storage import Storage, input_key
from core.views import JobView, Page, paginate

logger = logging.getLogger(__name__)

ACTIVE = ("queued", "processing")
FINISHED = ("done", "failed", "cancelled")
# How often a waiting caller reads the job's status (one indexed read): often while the job is
# processing, so the answer follows its end closely; seldom while it is still queued behind
# others, which may take minutes (reading every 20 ms then cost the panel 60 ms of CPU per photo).
WAIT_INTERVALS = {"queued": 0.25, "processing": 0.02}


def create_job(user_id: int, data: bytes, options: JobOptions | dict | None, *, settings: Settings,
               storage: Storage, source: str = "api", chat_id: int | None = None,
               message_id: int | None = None, input_name: str | None = None,
               max_in_flight: int | None = None) -> JobView:
    """Check the image, store it, and in ONE transaction reserve the price and create the job."""
    require_active(user_id)
    options = options if isinstance(options, JobOptions) else parse_options(options)
    info = inspect_image(data, settings.max_upload_bytes, settings.max_pixels)
    job_id = uuid.uuid4()
    key = input_key(job_id)
    storage.put(key, data)
    try:
        with db.atomic():
            billing.lock_user(user_id)
            job = Job.create(id=job_id, user=user_id, source=source, chat_id=chat_id, message_id=message_id,
                             options=options.to_json(), price=settings.price_per_image, input_key=key,
                             input_name=(input_name or "")[:255] or None, input_bytes=len(data),
                             width=info.width, height=info.height)
            # The user's row is locked, so the count below cannot race another submit.
            billing.take_credits(user_id, settings.price_per_image, "charge", job=job.id, status="pending")
            if max_in_flight is not None and Job.in_flight(user_id).count() > max_in_flight:
                raise TooManyJobs(f"You already have {max_in_flight} photos in progress; wait for one to finish.")
    except BaseException:
        storage.delete(key)
        raise
    logger.info("job %s created for user %s", job_id, user_id)
    return get_job(job_id)


def publish_job(queue, job_id: str) -> bool:
    """Publish a committed job to the input queue; on failure log it and leave it to the sweeper."""
    try:
        queue.publish_job(str(job_id))
        return True
    except QueueUnavailable as exc:
        logger.error("job %s is saved but not yet queued (%s); the sweeper will publish it", job_id, exc)
        return False


def submit_job(user_id: int, data: bytes, options, *, settings: Settings, storage: Storage, queue,
               **kwargs) -> JobView:
    """create_job, then publish it after the commit."""
    job = create_job(user_id, data, options, settings=settings, storage=storage, **kwargs)
    publish_job(queue, job.id)
    return job


# The by-id SELECT, composed once per database class: peewee spends more CPU composing it than
# PostgreSQL spends answering it, and every status poll of the API runs it.
_BY_ID_SQL: dict[type, str] = {}


def _job(job_id) -> Job:
    try:
        key = uuid.UUID(str(job_id))
    except ValueError:
        raise JobNotFound() from None
    sql = _BY_ID_SQL.get(type(db.obj))
    if sql is None:
        sql = _BY_ID_SQL[type(db.obj)] = Job.select().where(Job.id == key).sql()[0]
    job = next(iter(Job.raw(sql, Job.id.db_value(key))), None)
    if job is None:
        raise JobNotFound()
    return job


def get_job(job_id, user_id: int | None = None) -> JobView:
    """One job; with `user_id`, only if it is that user's (else JobNotFound, never a hint it exists)."""
    job = _job(job_id)
    if user_id is not None and job.user_id != user_id:
        raise JobNotFound()
    return JobView.of(job)


def wait_for_job(job_id, user_id: int | None = None, *, timeout: float) -> JobView:
    """The job as soon as it is finished, or as it is after `timeout` seconds (get_job's rules)."""
    job = get_job(job_id, user_id)
    deadline = time.monotonic() + timeout
    sql, params = Job.select(Job.status).where(Job.id == uuid.UUID(str(job.id))).sql()
    status = job.status
    while status not in FINISHED:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(WAIT_INTERVALS.get(status, 0.02), remaining))
        row = db.execute_sql(sql, params).fetchone()
        if row is None:
            raise JobNotFound()
        status = row[0]
    return get_job(job_id, user_id)


def list_jobs(user_id: int, page: int = 1, per_page: int = 20) -> Page[JobView]:
    """The user's jobs, newest first."""
    return paginate(Job.for_user(user_id), page, per_page, JobView.of)


def all_jobs(status: str | None = None, page: int = 1, per_page: int = 50) -> Page[JobView]:
    """Every job, newest first, optionally of one status (admin)."""
    query = Job.select().order_by(Job.created_at.desc())
    if status:
        query = query.where(Job.status == status)
    return paginate(query, page, per_page, JobView.of)


def queue_position(job_id) -> int:
    """1 for the next queued job, 0 when the job is not queued."""
    job = _job(job_id)
    if job.status != "queued":
        return 0
    return Job.select().where(Job.status == "queued", Job.created_at <= job.created_at).count()


def start_job(job_id) -> JobView | None:
    """Mark a job processing and count the attempt; None when it is already finished."""
    with db.atomic():
        updated = (Job.update(status="processing", attempts=Job.attempts + 1, started_at=utcnow())
                   .where(Job.id == _job(job_id).id, Job.status.in_(ACTIVE)).execute())
    return get_job(job_id) if updated else None


def requeue_job(job_id, error: str | None = None) -> bool:
    """Put a processing job back in line (a transient failure or a shutdown)."""
    with db.atomic():
        return bool(Job.update(status="queued", error=error, queued_at=utcnow())
                    .where(Job.id == _job(job_id).id, Job.status.in_(ACTIVE)).execute())


def complete_job(job_id, *, output_key: str, content_type: str) -> bool:
    """Mark a job done and make its charge final; False (and nothing changed) if already finished."""
    job = _job(job_id)
    with db.atomic():
        updated = (Job.update(status="done", output_key=output_key, output_content_type=content_type,
                              error=None, finished_at=utcnow())
                   .where(Job.id == job.id, Job.status.in_(ACTIVE)).execute())
        if updated:
            (Transaction.update(status="completed")
             .where(Transaction.job == job.id, Transaction.kind == "charge", Transaction.status == "pending")
             .execute())
    return bool(updated)


def fail_job(job_id, error: str) -> bool:
    """Mark a job failed and refund its charge exactly once; False if it was already finished."""
    return _close_with_refund(job_id, "failed", error)


def _close_with_refund(job_id, status: str, error: str | None, closable: tuple[str, ...] = ACTIVE) -> bool:
    job = _job(job_id)
    with db.atomic():
        updated = (Job.update(status=status, error=error, finished_at=utcnow())
                   .where(Job.id == job.id, Job.status.in_(closable)).execute())
        if not updated:
            return False
        charges = list(Transaction.select().where(Transaction.job == job.id, Transaction.kind == "charge",
                                                  Transaction.status == "pending"))
        for charge in charges:
            billing.move_credits(job.user_id, charge.bucket, -charge.amount, "refund", job=job.id,
                                 note=f"Refund: job {status}")
            Transaction.update(status="refunded").where(Transaction.id == charge.id).execute()
    logger.info("job %s %s and refunded", job.id, status)
    return True


def cancel_queued_jobs(user_id: int) -> int:
    """Cancel the user's jobs still waiting in line and refund them; return how many."""
    ids = [job.id for job in Job.select(Job.id).where(Job.user == user_id, Job.status == "queued")]
    # Only while still queued: a worker may have started one since the SELECT.
    return sum(_close_with_refund(job_id, "cancelled", "Cancelled by the user", ("queued",)) for job_id in ids)


def retry_job(job_id) -> JobView:
    """Put a failed job back in line, charging its price again (admin)."""
    job = _job(job_id)
    with db.atomic():
        # The failure was delivered; the new result must be delivered too.
        if not Job.update(status="queued", error=None, attempts=0, queued_at=utcnow(), finished_at=None,
                          delivered_at=None, delivery_error=None) \
                .where(Job.id == job.id, Job.status == "failed").execute():
            raise InvalidJobState("Only a failed job can be retried.")
        billing.take_credits(job.user_id, job.price, "charge", job=job.id, status="pending")
    return get_job(job_id)


def set_status_message(job_id, message_id: int) -> None:
    """Remember the chat message that shows this job's status."""
    Job.update(status_message_id=message_id).where(Job.id == _job(job_id).id).execute()


def record_delivery(job_id, error: str | None = None) -> bool:
    """Note that the result reached the chat (or why it never will); False if already recorded."""
    with db.atomic():
        return bool(Job.update(delivered_at=utcnow(), delivery_error=error)
                    .where(Job.id == _job(job_id).id, Job.delivered_at.is_null()).execute())


def _stuck_since(older_than_seconds: int):
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    return ((Job.status == "queued") & (Job.queued_at < cutoff)
            | (Job.status == "processing") & (Job.started_at < cutoff))


def stuck_jobs(older_than_seconds: int) -> list[str]:
    """Jobs queued or processing for longer than the timeout (a lost publish, a dead worker)."""
    query = Job.select(Job.id).where(_stuck_since(older_than_seconds))
    return [str(job.id) for job in query]


def claim_stuck_job(job_id, older_than_seconds: int) -> bool:
    """Like mark_republished, but only if the job is still stuck: of several sweepers (or a
    sweeper and a worker) at most one wins, so a job is not published twice needlessly."""
    with db.atomic():
        return bool(Job.update(status="queued", queued_at=utcnow())
                    .where(Job.id == _job(job_id).id, _stuck_since(older_than_seconds)).execute())


def mark_republished(job_id) -> None:
    """Reset the sweeper's clock of a job that was published again."""
    with db.atomic():
        Job.update(status="queued", queued_at=utcnow()).where(Job.id == _job(job_id).id,
                                                             Job.status.in_(ACTIVE)).execute()


def _undelivered_since(older_than_seconds: int):
    now = utcnow()
    cutoff = now - timedelta(seconds=older_than_seconds)
    return (Job.chat_id.is_null(False) & Job.status.in_(("done", "failed")) & Job.delivered_at.is_null()
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


def count_by_status() -> dict[str, int]:
    """How many jobs there are of each status."""
    rows = Job.select(Job.status, fn.COUNT(Job.id).alias("n")).group_by(Job.status).tuples()
    return {status: n for status, n in rows}
