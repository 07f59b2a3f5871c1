"""The worker against the real RabbitMQ and PostgreSQL: killed workers, poison messages, a broker
that is down at submit time, `python -m worker` stopping on SIGTERM, and PostgreSQL going away
under it: the job in hand is neither lost nor charged or made twice (it is finished once the
database is back), a message arriving meanwhile waits in hand, the worker tries about once a
second and logs the outage once and its end once; one started during an outage waits for it."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import pytest

from core import accounts, jobs
from core.audit import check_ledger
from core.health import heartbeat_path, is_fresh
from core.models import Job, Transaction, utcnow
from core.queue.rabbit import RabbitQueue
from tests.support.held_input import HeldInput
from tests.support.images import decode, encode, subject_image
from tests.support.processes import process_env
from tests.support.queues import publish_raw
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess
from worker.engine import load_engine
from worker.service import start_workers

ROOT = Path(__file__).resolve().parent.parent
PHOTO = encode(subject_image())


def status_of(job_id) -> str:
    return jobs.get_job(job_id).status


def ledger_of(job_id) -> list[tuple[str, int, str]]:
    rows = Transaction.select().where(Transaction.job == job_id).order_by(Transaction.id)
    return [(row.kind, row.amount, row.status) for row in rows]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def settings(pg_settings, amqp_names):
    """PostgreSQL and RabbitMQ, with queues of this test's own."""
    return replace(pg_settings, **amqp_names)


@pytest.fixture
def queue(settings, rabbit_queue):
    return rabbit_queue(settings)


@pytest.fixture
def user(settings):
    user, _ = accounts.register_telegram_user(3001, signup_bonus=3)
    return user


class JobInHand(NamedTuple):
    job: Job
    held: HeldInput
    worker: WorkerProcess


@pytest.fixture
def job_in_hand(settings, queue, storage, user, spawn) -> JobInHand:
    """A worker process that has taken up a job and is blocked reading its held input."""
    job = jobs.create_job(user.id, PHOTO, {}, settings=settings, storage=storage)
    held = HeldInput(storage, job)
    jobs.try_publish(queue, job.id)
    worker = spawn()
    wait_for(lambda: status_of(job.id) == "processing", what="the worker to start the job", logs=worker.logs)
    return JobInHand(job, held, worker)


@pytest.fixture
def in_process(settings, storage, queue, tiny_model_path):
    """start(**overrides) runs worker threads on RabbitMQ in this process until the test ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    engine = load_engine(replace(settings, rembg_model_path=str(tiny_model_path)))

    def start(**overrides):
        threads.extend(start_workers(replace(settings, **overrides), queue, engine, stop, storage=storage))

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
        assert not thread.is_alive(), f"{thread.name} did not stop"


@pytest.mark.slow
def test_worker_killed_mid_job_leaves_exactly_one_done_job_and_one_charge(settings, queue, storage, spawn,
                                                                          job_in_hand):
    job, held, first = job_in_hand
    first.process.kill()  # SIGKILL: no chance to ack, requeue or clean up
    first.process.wait(10)
    held.restore()
    second = spawn()
    wait_for(lambda: status_of(job.id) == "done", what="the second worker to finish the job", logs=second.logs)
    assert second.stop() == 0, second.logs()
    assert queue.depth(settings.input_queue) == 0  # acked: a message left unacked would be back now
    job = jobs.get_job(job.id)
    assert job.attempts == 2
    assert ledger_of(job.id) == [("charge", -1, "completed")]
    assert decode(storage.get(job.output_key)).mode == "RGBA"
    assert check_ledger() == []


@pytest.mark.slow
def test_sigterm_lets_the_worker_finish_its_job_and_exit_zero(settings, queue, job_in_hand):
    job, held, worker = job_in_hand
    heartbeat = heartbeat_path(settings.storage_dir, "worker")
    wait_for(lambda: is_fresh(heartbeat, 60), what="the worker's heartbeat", logs=worker.logs)
    worker.process.send_signal(signal.SIGTERM)
    held.feed()  # the job in hand goes on after the signal
    assert worker.process.wait(30) == 0, worker.logs()
    assert status_of(job.id) == "done"
    assert queue.depth(settings.input_queue) == 0
    assert ledger_of(job.id) == [("charge", -1, "completed")]
    assert "finishing the jobs in hand" in worker.logs()
    assert check_ledger() == []


@pytest.mark.slow
def test_second_sigterm_hands_the_job_back_and_exits_at_once(settings, queue, job_in_hand):
    job, _, worker = job_in_hand  # the input is never fed: the job cannot finish
    worker.process.send_signal(signal.SIGTERM)
    wait_for(lambda: "finishing the jobs in hand" in worker.logs(), what="the first signal", logs=worker.logs)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(30) == 0, worker.logs()
    assert status_of(job.id) == "queued"
    wait_for(lambda: queue.depth(settings.input_queue) == 1, what="the message back in the queue")
    assert ledger_of(job.id) == [("charge", -1, "pending")]
    assert check_ledger() == []


def test_poison_messages_end_in_the_dead_letter_queue(settings, queue, in_process):
    publish_raw(queue, settings.input_queue, b"\x00 not a job event")
    queue.publish(settings.input_queue, str(uuid.uuid4()))  # a job that does not exist
    in_process()
    wait_for(lambda: queue.depth(settings.dead_letter_queue) == 2, what="two dead letters")
    assert queue.depth(settings.input_queue) == 0


def test_broker_down_at_submit_keeps_the_job_queued_until_the_sweeper_publishes_it(settings, queue, storage, user,
                                                                                  in_process, caplog):
    down = RabbitQueue(replace(settings, amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F"))
    with caplog.at_level(logging.ERROR, logger="core.jobs"):
        job = jobs.submit_job(user.id, PHOTO, {"mode": "png"}, settings=settings, storage=storage, queue=down)
    assert "not yet queued" in caplog.text and "cannot reach RabbitMQ" in caplog.text
    assert (status_of(job.id), ledger_of(job.id)) == ("queued", [("charge", -1, "pending")])
    assert queue.depth(settings.input_queue) == 0

    # The broker is reachable again; the job has waited longer than the sweeper's timeout.
    Job.update(queued_at=utcnow() - timedelta(seconds=120)).where(Job.id == job.id).execute()
    in_process(stuck_job_seconds=60, sweep_interval_seconds=1)
    wait_for(lambda: status_of(job.id) == "done", what="the swept job to be done")
    job = jobs.get_job(job.id)
    cutout = decode(storage.get(job.output_key))
    assert cutout.getpixel((60, 40))[3] == 255 and cutout.getpixel((2, 2))[3] == 0
    assert ledger_of(job.id) == [("charge", -1, "completed")]
    assert check_ledger() == []


def test_photo_comes_back_cut_out_through_rabbitmq_with_a_result_event(settings, queue, storage, user, in_process):
    in_process()
    job = jobs.submit_job(user.id, PHOTO, {"mode": "sticker"}, settings=settings, storage=storage, queue=queue,
                          chat_id=99)
    wait_for(lambda: queue.depth(settings.result_queue) == 2, what="processing and result events")
    job = jobs.get_job(job.id)
    sticker = decode(storage.get(job.output_key))
    assert (job.status, job.output_content_type, sticker.format, max(sticker.size)) == (
        "done", "image/webp", "WEBP", 512)
    assert check_ledger() == []


def test_model_missing_makes_the_worker_exit_with_a_clear_message(settings, tmp_path):
    worker = WorkerProcess(settings, tmp_path / "absent.onnx", tmp_path / "worker.log")
    assert worker.process.wait(60) == 2
    assert "make model" in worker.logs()


# --- PostgreSQL down: the worker's database behind a relay the test takes down; the test reads past it ---

# How long a test watches a worker through an outage: long enough for a worker that gives up,
# retries early or spins to show it.
OUTAGE_SECONDS = 4.0


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
