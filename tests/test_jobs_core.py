import io
import logging
from dataclasses import replace
from datetime import timedelta

import pytest
from PIL import Image

from core import accounts, billing, jobs, sweeps
from core.audit import check_ledger
from core.errors import (
    ImageTooLarge,
    InsufficientCredits,
    InvalidImage,
    InvalidJobState,
    InvalidOptions,
    JobNotFound,
    JobNotReady,
    QueueUnavailable,
    ResultGone,
    TooManyJobs,
    UserBlocked,
)
from core.models import Job, Transaction
from core.retention import parse_age, purge_files
from core.storage import output_key


def png(size=(16, 12), color="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def user(settings):
    user, _ = accounts.register_telegram_user(1001, signup_bonus=3)
    return user


@pytest.fixture
def submit(settings, storage, memory_queue):
    def submit(user_id, data=None, options=None, **kwargs):
        data = png() if data is None else data
        return jobs.submit_job(user_id, data, options or {}, settings=settings, storage=storage,
                               queue=memory_queue, **kwargs)
    return submit


def charges(job_id):
    return list(Transaction.select().where(Transaction.job == job_id).order_by(Transaction.id))


def test_submit_reserves_the_price_creates_the_job_and_publishes_it(user, submit, storage, memory_queue):
    job = submit(user.id, options={"mode": "sticker"}, input_name="cat.jpg")
    assert (job.status, job.price, job.options.mode, job.width, job.height) == ("queued", 1, "sticker", 16, 12)
    assert storage.get(job.input_key) == png()
    assert [(t.kind, t.amount, t.status) for t in charges(job.id)] == [("charge", -1, "pending")]
    assert billing.balance(user.id).total == 2
    assert memory_queue.depth("input_queue") == 1


def test_too_few_credits_charges_nothing_and_keeps_no_file(user, submit, settings, storage):
    for _ in range(3):
        submit(user.id)
    with pytest.raises(InsufficientCredits):
        submit(user.id)
    assert Job.select().count() == 3
    assert billing.balance(user.id).total == 0
    assert len(list(storage.root.glob("*/input"))) == 3


@pytest.mark.parametrize("data,error", [(b"", InvalidImage), (b"%PDF-1.4 not an image", InvalidImage),
                                        (png()[:20], InvalidImage)])
def test_bad_input_is_refused_before_anything_is_charged(user, submit, data, error):
    with pytest.raises(error):
        submit(user.id, data=data)
    assert Job.select().count() == 0
    assert billing.balance(user.id).total == 3


def test_a_file_over_the_byte_limit_is_refused(user, settings, storage, memory_queue):
    small = replace(settings, max_upload_bytes=10)
    with pytest.raises(ImageTooLarge, match="limit"):
        jobs.submit_job(user.id, png(), {}, settings=small, storage=storage, queue=memory_queue)
    assert billing.balance(user.id).total == 3


def test_an_image_over_the_pixel_limit_is_refused(user, settings, storage, memory_queue):
    small = replace(settings, max_pixels=100)
    with pytest.raises(ImageTooLarge, match="MP"):
        jobs.submit_job(user.id, png((20, 20)), {}, settings=small, storage=storage, queue=memory_queue)
    assert Job.select().count() == 0


def test_bad_options_are_refused(user, submit):
    with pytest.raises(InvalidOptions):
        submit(user.id, options={"mode": "color", "bg_color": "red"})
    assert billing.balance(user.id).total == 3


def test_a_blocked_user_cannot_submit(user, submit):
    accounts.block_user(user.id)
    with pytest.raises(UserBlocked):
        submit(user.id)
    assert Job.select().count() == 0


def test_jobs_in_flight_are_limited_and_the_refused_one_costs_nothing(user, settings, storage, memory_queue):
    billing.top_up(user.id, 10, payment_id="p")
    limited = replace(settings, max_jobs_in_flight=2)
    for _ in range(2):
        jobs.submit_job(user.id, png(), {}, settings=limited, storage=storage, queue=memory_queue)
    with pytest.raises(TooManyJobs):
        jobs.submit_job(user.id, png(), {}, settings=limited, storage=storage, queue=memory_queue)
    assert billing.balance(user.id).total == 11
    assert check_ledger() == []


def test_every_front_end_gets_the_in_flight_limit_from_the_settings(user, submit, settings):
    billing.top_up(user.id, 10, payment_id="p")
    for _ in range(settings.max_jobs_in_flight):
        submit(user.id, source="api")
    with pytest.raises(TooManyJobs):
        submit(user.id, source="api")
    with pytest.raises(TooManyJobs):
        submit(user.id, source="telegram", chat_id=1)


def test_completing_makes_the_charge_final_and_twice_changes_nothing(user, submit):
    job = submit(user.id)
    assert jobs.start_job(job.id).status == "processing"
    assert jobs.complete_job(job.id, output_key="k", content_type="image/png")
    assert not jobs.complete_job(job.id, output_key="other", content_type="image/webp")
    assert not jobs.fail_job(job.id, "late failure")
    done = jobs.get_job(job.id)
    assert (done.status, done.output_key, done.attempts) == ("done", "k", 1)
    assert [t.status for t in charges(job.id)] == ["completed"]
    assert billing.balance(user.id).total == 2
    assert check_ledger() == []


def test_failing_refunds_exactly_once(user, submit):
    job = submit(user.id)
    assert jobs.fail_job(job.id, "model crashed")
    assert not jobs.fail_job(job.id, "again")
    assert not jobs.complete_job(job.id, output_key="k", content_type="image/png")
    rows = charges(job.id)
    assert [(t.kind, t.amount, t.status) for t in rows] == [("charge", -1, "refunded"), ("refund", 1, "completed")]
    assert jobs.get_job(job.id).error == "model crashed"
    assert billing.balance(user.id).total == 3
    assert check_ledger() == []


def test_a_split_charge_is_refunded_to_the_buckets_it_came_from(user, settings, storage, memory_queue):
    billing.top_up(user.id, 5, payment_id="p")
    pricey = replace(settings, price_per_image=4)
    job = jobs.submit_job(user.id, png(), {}, settings=pricey, storage=storage, queue=memory_queue)
    assert (billing.balance(user.id).bonus, billing.balance(user.id).paid) == (0, 4)
    jobs.fail_job(job.id, "x")
    assert (billing.balance(user.id).bonus, billing.balance(user.id).paid) == (3, 5)
    assert check_ledger() == []


def test_a_finished_job_is_not_started_again(user, submit):
    job = submit(user.id)
    jobs.fail_job(job.id, "x")
    assert jobs.start_job(job.id) is None


def test_cancel_refunds_only_queued_jobs(user, submit):
    queued, processing = submit(user.id), submit(user.id)
    jobs.start_job(processing.id)
    cancelled = jobs.cancel_queued_jobs(user.id)
    assert [(job.id, job.status) for job in cancelled] == [(queued.id, "cancelled")]
    assert jobs.get_job(queued.id).status == "cancelled"
    assert jobs.get_job(processing.id).status == "processing"
    assert billing.balance(user.id).total == 2
    assert check_ledger() == []


def test_cancel_leaves_a_job_that_a_worker_started_meanwhile(user, submit, monkeypatch):
    job = submit(user.id)
    original = jobs._close_with_refund

    def worker_starts_first(job_id, *args, **kwargs):
        jobs.start_job(job_id)  # between cancel's look at the queue and its update
        return original(job_id, *args, **kwargs)

    monkeypatch.setattr(jobs, "_close_with_refund", worker_starts_first)
    assert jobs.cancel_queued_jobs(user.id) == []
    assert jobs.get_job(job.id).status == "processing"
    assert [t.status for t in charges(job.id)] == ["pending"]
    assert check_ledger() == []


def test_a_retried_chat_job_is_delivered_again_after_its_failure_was(user, submit, memory_queue):
    job = submit(user.id, source="telegram", chat_id=1001)
    jobs.fail_job(job.id, "x")
    assert jobs.record_delivery(job.id)  # the bot told the chat it failed
    retried = jobs.retry_job(job.id, memory_queue)
    assert (retried.delivered_at, retried.delivery_error) == (None, None)
    jobs.complete_job(job.id, output_key="x", content_type="image/png")
    assert jobs.record_delivery(job.id)  # the cut-out itself is sent and recorded


def test_chat_ids_beyond_32_bits_are_kept(user, submit):
    job = submit(user.id, source="telegram", chat_id=-1001234567890, message_id=2**31 + 5)
    assert (job.chat_id, job.message_id) == (-1001234567890, 2**31 + 5)


def test_retrying_a_failed_job_charges_it_again_and_publishes_it(user, submit, memory_queue):
    job = submit(user.id)
    with pytest.raises(InvalidJobState):
        jobs.retry_job(job.id, memory_queue)
    jobs.fail_job(job.id, "x")
    depth = memory_queue.depth("input_queue")
    retried = jobs.retry_job(job.id, memory_queue)
    assert (retried.status, retried.attempts, retried.error) == ("queued", 0, None)
    assert memory_queue.depth("input_queue") == depth + 1
    assert billing.balance(user.id).total == 2
    assert check_ledger() == []


def test_the_result_file_comes_with_its_type_and_a_name_from_the_original(user, submit, storage):
    job = submit(user.id, input_name="My Cat.final.jpeg")
    with pytest.raises(JobNotReady):
        jobs.result_file(job.id, storage)
    key = output_key(job.id, "png")
    storage.put(key, b"png bytes")
    jobs.complete_job(job.id, output_key=key, content_type="image/png")
    result = jobs.result_file(job.id, storage, user_id=user.id)
    assert (result.data, result.content_type, result.filename) == (b"png bytes", "image/png", "My_Cat.final-cutout.png")
    other, _ = accounts.register_telegram_user(1003)
    with pytest.raises(JobNotFound):
        jobs.result_file(job.id, storage, user_id=other.id)
    storage.delete(key)
    with pytest.raises(ResultGone):
        jobs.result_file(job.id, storage)


def test_a_user_sees_only_their_own_jobs(user, submit):
    other, _ = accounts.register_telegram_user(1002, signup_bonus=3)
    job = submit(user.id)
    assert jobs.get_job(job.id, user_id=user.id).id == job.id
    with pytest.raises(JobNotFound):
        jobs.get_job(job.id, user_id=other.id)
    assert jobs.list_jobs(other.id).total == 0
    assert [j.id for j in jobs.list_jobs(user.id).items] == [job.id]


@pytest.mark.parametrize("job_id", ["nope", "00000000-0000-0000-0000-000000000000", "../../etc/passwd"])
def test_an_unknown_job_id_is_job_not_found(settings, job_id):
    with pytest.raises(JobNotFound):
        jobs.get_job(job_id)


def test_queue_position_counts_jobs_ahead(user, submit):
    first, second = submit(user.id), submit(user.id)
    assert (jobs.queue_position(first.id), jobs.queue_position(second.id)) == (1, 2)
    jobs.start_job(first.id)
    assert (jobs.queue_position(first.id), jobs.queue_position(second.id)) == (0, 1)


def test_a_failed_publish_keeps_the_job_queued_for_the_sweeper(user, settings, storage, caplog):
    class DownQueue:
        def publish_job(self, job_id):
            raise QueueUnavailable("broker unreachable")

    with caplog.at_level(logging.ERROR):
        job = jobs.submit_job(user.id, png(), {}, settings=settings, storage=storage, queue=DownQueue())
    assert jobs.get_job(job.id).status == "queued"
    assert "not yet queued (broker unreachable)" in caplog.text
    assert sweeps.stuck_jobs(0) == [job.id]
    assert sweeps.stuck_jobs(3600) == []


def test_delivery_is_recorded_once(user, submit):
    job = submit(user.id)
    assert jobs.record_delivery(job.id)
    assert not jobs.record_delivery(job.id, error="again")
    assert jobs.get_job(job.id).delivered_at is not None


def test_purge_deletes_old_files_and_marks_their_jobs(user, submit, storage):
    job = submit(user.id)
    jobs.fail_job(job.id, "x")
    assert purge_files(storage, timedelta(days=1)) == 0
    assert purge_files(storage, timedelta(seconds=-1)) == 1
    assert not storage.exists(job.input_key)
    assert Job.get_by_id(job.id).purged_at is not None
    assert parse_age("30d") == timedelta(days=30)
    with pytest.raises(ValueError):
        parse_age("soon")


def test_check_ledger_reports_a_job_charged_twice(user, submit):
    job = submit(user.id)
    billing.move_credits(user.id, "bonus", -1, "charge", job=job.id)
    problems = check_ledger()
    assert [p.user_id for p in problems] == [user.id]
    assert "nets -2 credits, expected -1" in problems[0].message
