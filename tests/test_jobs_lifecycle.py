"""A job's life in core after submission: completion, failure and refunds, cancel, retry, result, delivery, purge."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core import accounts, billing, deliveries, jobs, results
from core.audit import check_ledger
from core.errors import InvalidJobState, JobNotFound, JobNotReady, ResultGone
from core.models import Job
from core.retention import parse_age, purge_files
from core.storage import output_key
from tests.support.jobs import charges, png


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
    assert deliveries.record_delivery(job.id)  # the bot told the chat it failed
    retried = jobs.retry_job(job.id, memory_queue)
    assert (retried.delivered_at, retried.delivery_error) == (None, None)
    jobs.complete_job(job.id, output_key="x", content_type="image/png")
    assert deliveries.record_delivery(job.id)  # the cut-out itself is sent and recorded


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
        results.result_file(job.id, storage)
    key = output_key(job.id, "png")
    storage.put(key, b"png bytes")
    jobs.complete_job(job.id, output_key=key, content_type="image/png")
    result = results.result_file(job.id, storage, user_id=user.id)
    assert (result.data, result.content_type, result.filename) == (b"png bytes", "image/png", "My_Cat.final-cutout.png")
    other, _ = accounts.register_telegram_user(1003)
    with pytest.raises(JobNotFound):
        results.result_file(job.id, storage, user_id=other.id)
    storage.delete(key)
    with pytest.raises(ResultGone):
        results.result_file(job.id, storage)


def test_delivery_is_recorded_once(user, submit):
    job = submit(user.id)
    assert deliveries.record_delivery(job.id)
    assert not deliveries.record_delivery(job.id, error="again")
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
