"""Jobs: submit (charge + create in one transaction), read, wait, run, finish, fail with refund,
cancel, retry, and the result file. The sweeper's queries are in core.sweeps."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from peewee import IntegrityError, fn

from core import admission, billing, idempotency
from core.accounts import require_active
from core.db import db
from core.enums import ACTIVE, EntryKind, EntryStatus, JobSource, JobStatus
from core.errors import (
    DatabaseUnavailable,
    DuplicateSubmission,
    InvalidJobState,
    JobNotFound,
    QueueUnavailable,
)
from core.images import inspect_image
from core.models import Job, Transaction, utcnow
from core.options import JobOptions, check_fits, parse_options
from core.settings import Settings
from core.storage import Store, input_key
from core.views import JobView, Page, paginate

logger = logging.getLogger(__name__)



def create_job(user_id: int, data: bytes, options: JobOptions | dict | None, *, settings: Settings,
               storage: Store, source: str = JobSource.API, chat_id: int | None = None,
               message_id: int | None = None, input_name: str | None = None,
               idempotency_key: str | None = None, album_id: int | None = None, preview: bool = False) -> JobView:
    """Check the image, store it, and in ONE transaction reserve the price and create the job;
    TooManyJobs past MAX_JOBS_IN_FLIGHT queued or processing requests, whichever front end asks
    (an album's photos are one request). A chat message makes one job (DuplicateSubmission for
    its repeat); a request repeating an Idempotency-Key returns its first job and charges nothing
    (core.idempotency). A `preview` (a small result) costs PRICE_PREVIEW for the person's first
    FREE_PREVIEWS_PER_DAY previews of the day, then PRICE_PER_IMAGE."""
    return _create(user_id, data, options, settings, storage, source, chat_id, message_id, input_name,
                   idempotency_key, album_id, preview)[0]


def _create(user_id, data, options, settings, storage, source, chat_id, message_id, input_name,
            idempotency_key, album_id=None, preview=False) -> tuple[JobView, bool]:
    """create_job's work; (job, created): False when an earlier request's job answers."""
    require_active(user_id)
    options = options if isinstance(options, JobOptions) else parse_options(options)
    print_ = idempotency.fingerprint(data, options) if idempotency_key is not None else None
    if print_ and (earlier := idempotency.earlier_job(user_id, idempotency.check_key(idempotency_key), print_)):
        return get_job(earlier), False
    info = inspect_image(data, settings.max_upload_bytes, settings.max_pixels)
    check_fits(options, info.width, info.height)
    job_id = uuid.uuid4()
    key = input_key(job_id)
    storage.put(key, data)
    try:
        with db.atomic():
            billing.lock_user(user_id)
            # The user's row is locked: the checks below cannot race another submit of theirs.
            if print_ and (earlier := idempotency.earlier_job(user_id, idempotency_key, print_)):
                storage.delete(key)
                return get_job(earlier), False
            _refuse_a_repeated_message(chat_id, message_id)
            price = admission.price_of(user_id, settings, preview)
            job = Job.create(id=job_id, user=user_id, source=source, chat_id=chat_id, message_id=message_id,
                             options=options.to_json(), price=price, input_key=key,
                             input_name=(input_name or "")[:255] or None, input_bytes=len(data),
                             width=info.width, height=info.height, album=album_id, input_format=info.format,
                             first_frame_only=info.animated)
            billing.take_credits(user_id, price, EntryKind.CHARGE, job=job.id, status=EntryStatus.PENDING)
            admission.check_in_flight(user_id, settings, album_id, counted=True)
            if print_:
                idempotency.remember(user_id, idempotency_key, print_, job.id)
    except IntegrityError:  # the unique indexes: a twin committed first (another user's lock)
        storage.delete(key)
        _refuse_a_repeated_message(chat_id, message_id)
        raise
    except BaseException:
        storage.delete(key)
        raise
    logger.info("job %s created for user %s", job_id, user_id)
    return get_job(job_id), True


def refund_done_job(job_id, reason: str) -> bool:
    """A done job whose result cannot be given after all (no subject in it, for remove.bg's API):
    failed, and refunded once; False if it was not done."""
    return _close_with_refund(job_id, JobStatus.FAILED, reason, (JobStatus.DONE,))


def _refuse_a_repeated_message(chat_id: int | None, message_id: int | None) -> None:
    if chat_id is not None and message_id is not None:
        earlier = Job.select(Job.id).where(Job.chat_id == chat_id, Job.message_id == message_id).first()
        if earlier is not None:
            raise DuplicateSubmission(str(earlier.id))


def job_for_message(chat_id: int, message_id: int) -> JobView | None:
    """The job a chat message made, if any (a repeated update is recognised before its download)."""
    row = Job.select().where(Job.chat_id == chat_id, Job.message_id == message_id).first()
    return JobView.of(row) if row else None


def try_publish(queue, job_id: str) -> bool:
    """Publish a committed job to the input queue; False (logged) when the queue cannot take it
    now, and the sweeper publishes it later. Unlike JobQueue.publish_job, it never raises."""
    try:
        queue.publish_job(str(job_id))
    except QueueUnavailable as exc:
        logger.error("job %s is saved but not yet queued (%s); the sweeper will publish it", job_id, exc)
        return False
    try:
        _mark_published(job_id)
    except DatabaseUnavailable:  # published all the same; the sweeper may publish it again, harmlessly
        logger.warning("job %s is queued; its publish is not recorded (the database is away)", job_id)
    return True


def _mark_published(job_id) -> None:
    # The broker confirmed it: from now on the sweeper leaves the job to the queue, however long the backlog.
    Job.update(published_at=utcnow()).where(Job.id == _job(job_id).id).execute()


def submit_job(user_id: int, data: bytes, options, *, settings: Settings, storage: Store, queue,
               source: str = JobSource.API, chat_id: int | None = None, message_id: int | None = None,
               input_name: str | None = None, idempotency_key: str | None = None, preview: bool = False) -> JobView:
    """create_job, then publish it after the commit (a repeated request's job is not published again)."""
    job, created = _create(user_id, data, options, settings, storage, source, chat_id, message_id, input_name,
                           idempotency_key, preview=preview)
    if created:
        try_publish(queue, job.id)
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
    if job.status != JobStatus.QUEUED:
        return 0
    return Job.select().where(Job.status == JobStatus.QUEUED, Job.created_at <= job.created_at).count()


def start_job(job_id, worker: str = "", lease_seconds: float = 60.0) -> JobView | None:
    """Claim a job for `worker` until the lease runs out, counting the attempt: a queued job, or a
    processing one whose lease has run out (its worker died). None when it is finished, or in the
    hands of a worker whose lease is live."""
    now = utcnow()
    claimable = (Job.status == JobStatus.QUEUED) | (
        (Job.status == JobStatus.PROCESSING) & (Job.lease_until.is_null() | (Job.lease_until < now)))
    with db.atomic():
        updated = (Job.update(status=JobStatus.PROCESSING, attempts=Job.attempts + 1, started_at=now,
                              worker=worker[:128] or None, lease_until=now + timedelta(seconds=lease_seconds))
                   .where(Job.id == _job(job_id).id, claimable).execute())
    return get_job(job_id) if updated else None


def renew_leases(job_ids: list[str], worker: str, lease_seconds: float) -> int:
    """Extend the leases `worker` holds on these jobs (it is alive and working); how many it still holds."""
    if not job_ids:
        return 0
    with db.atomic():
        return (Job.update(lease_until=utcnow() + timedelta(seconds=lease_seconds))
                .where(Job.id.in_([uuid.UUID(str(job_id)) for job_id in job_ids]), Job.worker == worker[:128],
                       Job.status == JobStatus.PROCESSING).execute())


def requeue_job(job_id, error: str | None = None) -> bool:
    """Put a processing job back in line (a transient failure or a shutdown), its lease given up."""
    with db.atomic():
        return bool(Job.update(status=JobStatus.QUEUED, error=error, queued_at=utcnow(), worker=None,
                               lease_until=None)
                    .where(Job.id == _job(job_id).id, Job.status.in_(ACTIVE)).execute())


def complete_job(job_id, *, output_key: str, content_type: str, mask_key: str | None = None,
                 model: str | None = None) -> bool:
    """Mark a job done (with its output, and the mask kept for re-renders and the model that made
    it) and make its charge final; False (and nothing changed) if already finished."""
    job = _job(job_id)
    with db.atomic():
        updated = (Job.update(status=JobStatus.DONE, output_key=output_key, output_content_type=content_type,
                              mask_key=mask_key, model=model and model[:64], error=None, finished_at=utcnow())
                   .where(Job.id == job.id, Job.status.in_(ACTIVE)).execute())
        if updated:
            (Transaction.update(status=EntryStatus.COMPLETED)
             .where(Transaction.job == job.id, Transaction.kind == EntryKind.CHARGE,
                    Transaction.status == EntryStatus.PENDING)
             .execute())
    return bool(updated)


def fail_job(job_id, error: str) -> bool:
    """Mark a job failed and refund its charge exactly once; False if it was already finished."""
    return _close_with_refund(job_id, JobStatus.FAILED, error)


def _close_with_refund(job_id, status: str, error: str | None, closable: tuple[str, ...] = ACTIVE) -> bool:
    job = _job(job_id)
    with db.atomic():
        updated = (Job.update(status=status, error=error, finished_at=utcnow())
                   .where(Job.id == job.id, Job.status.in_(closable)).execute())
        if not updated:
            return False
        charges = _owed_charges(job.id, done=JobStatus.DONE in closable)
        for charge in charges:
            billing.move_credits(job.user_id, charge.bucket, -charge.amount, EntryKind.REFUND, job=job.id,
                                 note=f"Refund: job {status}")
            if charge.status == EntryStatus.PENDING:  # a completed entry never changes: its refund row says it
                Transaction.update(status=EntryStatus.REFUNDED).where(Transaction.id == charge.id).execute()
    logger.info("job %s %s and refunded", job.id, status)
    return True


def _owed_charges(job_id, *, done: bool) -> list[Transaction]:
    """The charges a closing job gives back: its pending ones; for a done job (refund_done_job),
    whose charge was made final, the ones since its last refund (an admin's retry charges anew)."""
    if not done:
        return list(Transaction.select().where(Transaction.job == job_id, Transaction.kind == EntryKind.CHARGE,
                                               Transaction.status == EntryStatus.PENDING))
    last_refund = (Transaction.select(fn.MAX(Transaction.id))
                   .where(Transaction.job == job_id, Transaction.kind == EntryKind.REFUND).scalar() or 0)
    return list(Transaction.select().where(
        Transaction.job == job_id, Transaction.kind == EntryKind.CHARGE, Transaction.id > last_refund,
        Transaction.status.in_((EntryStatus.PENDING, EntryStatus.COMPLETED))))


def cancel_queued_jobs(user_id: int) -> list[JobView]:
    """Cancel the user's jobs still waiting in line and refund them; return the cancelled jobs."""
    waiting = Job.select(Job.id).where(Job.user == user_id, Job.status == JobStatus.QUEUED).order_by(Job.created_at)
    # Only while still queued: a worker may have started one since the SELECT.
    cancelled = [job.id for job in waiting
                 if _close_with_refund(job.id, JobStatus.CANCELLED, "Cancelled by the user", (JobStatus.QUEUED,))]
    return [get_job(job_id) for job_id in cancelled]


def retry_job(job_id, queue) -> JobView:
    """Put a failed job back in line, charging its price again, and publish it (admin)."""
    job = _job(job_id)
    with db.atomic():
        # The failure was delivered; the new result must be delivered too.
        if not Job.update(status=JobStatus.QUEUED, error=None, attempts=0, queued_at=utcnow(), finished_at=None,
                          delivered_at=None, delivery_error=None) \
                .where(Job.id == job.id, Job.status == JobStatus.FAILED).execute():
            raise InvalidJobState("Only a failed job can be retried.")
        billing.take_credits(job.user_id, job.price, EntryKind.CHARGE, job=job.id, status=EntryStatus.PENDING)
    try_publish(queue, job.id)
    return get_job(job_id)
