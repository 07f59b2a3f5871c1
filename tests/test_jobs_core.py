"""Submitting a job through core: the reserved charge, what is refused before charging, limits, finding jobs."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from core import accounts, billing, jobs, sweeps
from core.audit import check_ledger
from core.errors import (
    ImageTooLarge,
    InsufficientCredits,
    InvalidImage,
    InvalidOptions,
    JobNotFound,
    QueueUnavailable,
    TooManyJobs,
    UserBlocked,
)
from core.models import Job
from tests.support.jobs import charges, png


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


def test_chat_ids_beyond_32_bits_are_kept(user, submit):
    job = submit(user.id, source="telegram", chat_id=-1001234567890, message_id=2**31 + 5)
    assert (job.chat_id, job.message_id) == (-1001234567890, 2**31 + 5)


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
