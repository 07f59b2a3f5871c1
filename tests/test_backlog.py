"""A backlog longer than STUCK_JOB_SECONDS, worked off by two `python -m worker` processes on
RabbitMQ and PostgreSQL (each with its sweeper): every job runs exactly once and none fails."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from PIL import Image

from core import accounts, jobs
from core.audit import check_ledger
from core.models import Job
from tests.support.images import encode
from tests.support.waiting import wait_for

JOBS = 40
STUCK_SECONDS = 1


@pytest.fixture
def settings(pg_settings, amqp_names):
    """PostgreSQL and RabbitMQ, with queues of this test's own; a person may queue the whole backlog."""
    return replace(pg_settings, max_jobs_in_flight=JOBS, **amqp_names)


@pytest.mark.slow
def test_a_long_backlog_runs_every_job_exactly_once(settings, rabbit_queue, storage, spawn):
    queue = rabbit_queue(settings)
    owner, _ = accounts.register_telegram_user(8101, signup_bonus=JOBS)
    photo = encode(Image.effect_noise((1600, 1200), 60).convert("RGB"), "PNG")  # slow enough to queue up
    submitted = [jobs.submit_job(owner.id, photo, {}, settings=settings, storage=storage, queue=queue).id
                 for _ in range(JOBS)]
    began = time.monotonic()
    workers = [spawn(STUCK_JOB_SECONDS=str(STUCK_SECONDS), SWEEP_INTERVAL_SECONDS="1") for _ in range(2)]
    wait_for(lambda: Job.select().where(Job.status == "done").count() == JOBS, timeout=240,
             what="the backlog to be worked off", logs=workers[0].logs)
    took = time.monotonic() - began
    for worker in workers:
        assert worker.stop() == 0, worker.logs()
    finished = [jobs.get_job(job_id) for job_id in submitted]
    assert took > 3 * STUCK_SECONDS  # the jobs at the back waited far longer than the sweeper's timeout
    assert [job.attempts for job in finished] == [1] * JOBS
    assert {job.status for job in finished} == {"done"}
    assert queue.depth(settings.input_queue) == 0
    assert check_ledger() == []
