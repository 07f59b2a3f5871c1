"""Job claims with a lease: one worker at a time holds a job; a duplicate message is dropped, one
handed out again waits for the lease, and a dead worker's job is taken over once it runs out."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from core import jobs
from core.models import Job, utcnow
from core.queue import RetryLater
from core.render import ProcessedImage
from tests.support.images import encode, subject_image
from worker.handler import JobHandler


class CountingPipeline:
    def __init__(self):
        self.calls = 0

    def __call__(self, data, options, engine, **limits) -> ProcessedImage:
        self.calls += 1
        return ProcessedImage(b"png", "image/png", 1, 1)


def handler(settings, memory_queue, storage, name: str) -> JobHandler:
    worker = JobHandler(settings, memory_queue, storage, None, threading.Event(), process=CountingPipeline())
    worker.name = name
    return worker


def queued_job(settings, storage, user):
    return jobs.create_job(user.id, encode(subject_image()), {}, settings=settings, storage=storage)


def test_a_claim_records_the_worker_and_its_lease(settings, storage, user):
    job = queued_job(settings, storage, user)
    started = jobs.start_job(job.id, worker="host-a:11", lease_seconds=60)
    assert (started.status, started.worker, started.attempts) == ("processing", "host-a:11", 1)
    assert 55 < started.lease_seconds_left() <= 60


def test_a_job_under_a_live_lease_cannot_be_claimed_again(settings, storage, user):
    job = queued_job(settings, storage, user)
    jobs.start_job(job.id, worker="host-a:11", lease_seconds=60)
    assert jobs.start_job(job.id, worker="host-b:22", lease_seconds=60) is None
    assert jobs.get_job(job.id).attempts == 1


def test_once_the_lease_runs_out_another_worker_takes_the_job(settings, storage, user):
    job = queued_job(settings, storage, user)
    jobs.start_job(job.id, worker="host-a:11", lease_seconds=60)
    Job.update(lease_until=utcnow() - timedelta(seconds=1)).where(Job.id == job.id).execute()
    taken = jobs.start_job(job.id, worker="host-b:22", lease_seconds=60)
    assert (taken.worker, taken.attempts) == ("host-b:22", 2)


def test_a_worker_renews_only_its_own_leases(settings, storage, user):
    job = queued_job(settings, storage, user)
    jobs.start_job(job.id, worker="host-a:11", lease_seconds=5)
    assert jobs.renew_leases([job.id], "host-b:22", 600) == 0
    assert jobs.renew_leases([job.id], "host-a:11", 600) == 1
    assert jobs.get_job(job.id).lease_seconds_left() > 500


def test_a_duplicate_message_for_a_leased_job_is_dropped(settings, memory_queue, storage, user):
    job = queued_job(settings, storage, user)
    jobs.start_job(job.id, worker="host-a:11", lease_seconds=60)
    other = handler(settings, memory_queue, storage, "host-b:22")
    other({"job_id": job.id, "v": 1})
    assert other.process.calls == 0
    assert (jobs.get_job(job.id).worker, jobs.get_job(job.id).attempts) == ("host-a:11", 1)


def test_a_redelivered_message_for_a_leased_job_waits_for_the_lease(settings, memory_queue, storage, user):
    job = queued_job(settings, storage, user)
    jobs.start_job(job.id, worker="host-a:11", lease_seconds=20)
    other = handler(settings, memory_queue, storage, "host-b:22")
    with pytest.raises(RetryLater) as later:
        other({"job_id": job.id, "v": 1, "redelivered": True})
    assert 20 <= later.value.delay <= 22
    Job.update(lease_until=utcnow() - timedelta(seconds=1)).where(Job.id == job.id).execute()
    other({"job_id": job.id, "v": 1})  # it comes back after the lease: host-a is gone, host-b takes over
    finished = jobs.get_job(job.id)
    assert (finished.status, finished.worker, finished.attempts, other.process.calls) == ("done", "host-b:22", 2, 1)
