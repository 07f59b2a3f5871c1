"""The worker while PostgreSQL is away: the job in hand is neither lost nor charged or made twice
(it is finished once the database is back), a message that arrives meanwhile waits in the
worker's hand, the worker tries about once a second instead of spinning and logs the outage
once and its end once; a worker started during an outage waits for the database instead of
exiting. The ledger checks out afterwards.

`python -m worker` on RabbitMQ with the tiny model; the real test PostgreSQL behind a relay the
test takes down (tests.support.proxy), which the test itself reads past."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

import pytest

from core import accounts, jobs
from core.audit import check_ledger
from tests.support.held_input import HeldInput
from tests.support.images import encode, subject_image
from tests.support.jobs import ledger_of, status_of
from tests.support.processes import process_env
from tests.support.waiting import wait_for

PHOTO = encode(subject_image())
# How long the test watches a worker through an outage: long enough for a worker that gives up,
# retries early or spins to show it.
OUTAGE_SECONDS = 4.0


@pytest.fixture
def settings(pg_settings, amqp_names):
    """PostgreSQL and RabbitMQ, with queues of this test's own."""
    return replace(pg_settings, **amqp_names)


@pytest.fixture
def queue(settings, rabbit_queue):
    return rabbit_queue(settings)


@pytest.fixture
def user(settings):
    return accounts.register_telegram_user(3101, signup_bonus=5)[0]


def assert_made_once_and_charged_once(job_id) -> None:
    job = jobs.get_job(job_id)
    assert (job.status, job.attempts) == ("done", 1)  # one attempt: the model ran once
    assert ledger_of(job_id) == [("charge", -1, "completed")]


def assert_outage_logged_once(logs: str) -> None:
    assert logs.count("unreachable (") == 1, logs
    assert logs.count("reachable again after") == 1, logs
    assert "Traceback" not in logs, logs


def check_ledger_command(settings, tmp_path) -> subprocess.CompletedProcess:
    """`python -m core check-ledger`, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "core", "check-ledger"], cwd=tmp_path,
                          env=process_env(tmp_path, database_url=settings.database_url),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_a_job_in_hand_when_the_database_goes_away_is_finished_once_when_it_is_back(
        settings, queue, storage, user, spawn, pg_proxy, tmp_path):
    in_hand = jobs.create_job(user.id, PHOTO, {}, settings=settings, storage=storage)
    held = HeldInput(storage, in_hand)
    jobs.try_publish(queue, in_hand.id)
    worker = spawn(DATABASE_URL=pg_proxy.url, WORKER_THREADS="2")
    wait_for(lambda: status_of(in_hand.id) == "processing", what="the worker to take the job", logs=worker.logs)

    pg_proxy.refuse()
    held.feed()  # the model runs; the job cannot be marked done
    arriving = jobs.submit_job(user.id, PHOTO, {}, settings=settings, storage=storage, queue=queue)
    wait_for(lambda: "unreachable (" in worker.logs(), what="the worker to find the database down", logs=worker.logs)
    time.sleep(OUTAGE_SECONDS)  # a window to watch in, not a synchronisation
    assert worker.process.poll() is None, worker.logs()
    assert (status_of(in_hand.id), status_of(arriving.id)) == ("processing", "queued")
    assert queue.depth(settings.input_queue) == 0  # both messages are in the worker's hand
    assert queue.depth(settings.dead_letter_queue) == 0
    assert pg_proxy.refused <= OUTAGE_SECONDS + 3  # about one try a second, however many jobs wait

    pg_proxy.restore()
    for job in (in_hand, arriving):
        wait_for(lambda job=job: status_of(job.id) == "done", what="the jobs to be done", logs=worker.logs)
    assert worker.stop() == 0, worker.logs()
    for job in (in_hand, arriving):
        assert_made_once_and_charged_once(job.id)
    assert queue.depth(settings.input_queue) == 0 and queue.depth(settings.dead_letter_queue) == 0
    assert check_ledger() == []
    done = check_ledger_command(settings, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_outage_logged_once(worker.logs())


@pytest.mark.slow
def test_a_worker_started_during_an_outage_waits_for_the_database_then_works(
        settings, queue, storage, user, spawn, pg_proxy):
    pg_proxy.refuse()
    worker = spawn(DATABASE_URL=pg_proxy.url)
    wait_for(lambda: "unreachable (" in worker.logs(), what="the worker to find the database down", logs=worker.logs)
    job = jobs.submit_job(user.id, PHOTO, {}, settings=settings, storage=storage, queue=queue)
    wait_for(lambda: pg_proxy.refused >= 2, what="the worker to try again", logs=worker.logs)
    assert worker.process.poll() is None, worker.logs()  # waiting, not exited

    pg_proxy.restore()
    wait_for(lambda: status_of(job.id) == "done", what="the job to be done", logs=worker.logs)
    assert worker.stop() == 0, worker.logs()
    assert_made_once_and_charged_once(job.id)
    assert check_ledger() == []
    assert_outage_logged_once(worker.logs())
