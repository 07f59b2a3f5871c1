"""The sweeper: stuck jobs and lost result events published again, once however many sweepers run."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import timedelta

from core import accounts, deliveries, jobs
from core.db import connect_database
from core.models import Job, utcnow
from core.queue import MemoryQueue
from core.storage import open_storage
from tests.support.images import encode, subject_image
from tests.support.jobs import status_of
from tests.support.waiting import wait_for
from worker.sweeper import republish_unfinished, run_sweeper, sweep_once


def backdate(job_id, seconds: int) -> None:
    """As if the job was queued (and, if processing, started and last leased) `seconds` ago."""
    past = utcnow() - timedelta(seconds=seconds)
    Job.update(queued_at=past, started_at=past, lease_until=past).where(Job.id == job_id).execute()


def test_sweeper_publishes_a_stuck_job_once_however_many_sweepers_run(fast_settings, storage, user):
    settings = replace(fast_settings, stuck_job_seconds=60)
    queue = MemoryQueue(settings)
    job = jobs.create_job(user.id, encode(subject_image()), {}, settings=settings, storage=storage)  # never published
    backdate(job.id, 3600)
    assert sweep_once(settings, queue) == 1
    assert sweep_once(settings, queue) == 0  # a second worker's sweeper finds it no longer stuck
    assert queue.depth("input_queue") == 1
    assert status_of(job.id) == "queued"


def test_sweeper_publishes_a_lost_result_event_again_once(fast_settings, storage, user):
    settings = replace(fast_settings, stuck_job_seconds=60)
    queue = MemoryQueue(settings)
    lost, delivered, api = (jobs.create_job(user.id, encode(subject_image()), {}, settings=settings,
                                            storage=storage, chat_id=chat) for chat in (5, 5, None))
    for job in (lost, delivered, api):
        jobs.complete_job(job.id, output_key="x", content_type="image/png")
    deliveries.record_delivery(delivered.id)
    past = utcnow() - timedelta(seconds=3600)
    Job.update(finished_at=past, queued_at=past).execute()
    assert sweep_once(settings, queue) == 1
    assert sweep_once(settings, queue) == 0  # claimed: not again until another timeout passes
    assert queue.depth("result_queue") == 1
    assert queue.depth("input_queue") == 0


def test_sweeper_leaves_jobs_younger_than_the_timeout(fast_settings, storage, user):
    settings = replace(fast_settings, stuck_job_seconds=60)
    queue = MemoryQueue(settings)
    jobs.create_job(user.id, encode(subject_image()), {}, settings=settings, storage=storage)
    assert sweep_once(settings, queue) == 0
    assert queue.depth("input_queue") == 0


def test_sweeper_publishes_the_job_of_a_dead_worker_again(fast_settings, storage, user):
    settings = replace(fast_settings, stuck_job_seconds=60)
    queue = MemoryQueue(settings)
    job = jobs.create_job(user.id, encode(subject_image()), {}, settings=settings, storage=storage)
    jobs.start_job(job.id, worker="gone:1", lease_seconds=60)
    assert sweep_once(settings, queue) == 0  # its lease is live: the worker is at it
    backdate(job.id, 3600)  # the lease ran out: nobody renewed it
    assert sweep_once(settings, queue) == 1
    assert (status_of(job.id), queue.depth("input_queue")) == ("queued", 1)
    assert jobs.get_job(job.id).worker is None


def test_a_job_waiting_in_a_long_backlog_is_left_to_the_queue(fast_settings, storage, user, memory_queue):
    settings = replace(fast_settings, stuck_job_seconds=60)
    job = jobs.submit_job(user.id, encode(subject_image()), {}, settings=settings, storage=storage,
                          queue=memory_queue)  # published, and the publish confirmed
    backdate(job.id, 3600)
    assert jobs.get_job(job.id).published_at is not None
    assert sweep_once(settings, memory_queue) == 0
    assert memory_queue.depth("input_queue") == 1  # just the one message


def test_a_job_whose_message_outlived_every_retry_is_published_again(fast_settings, storage, user, memory_queue):
    settings = replace(fast_settings, stuck_job_seconds=60)
    job = jobs.submit_job(user.id, encode(subject_image()), {}, settings=settings, storage=storage,
                          queue=memory_queue)
    Job.update(published_at=utcnow() - timedelta(days=2)).where(Job.id == job.id).execute()
    assert sweep_once(settings, memory_queue) == 1


def test_republish_unfinished_ignores_finished_jobs(fast_settings, storage, user):
    queue = MemoryQueue(fast_settings)
    done = jobs.create_job(user.id, encode(subject_image()), {}, settings=fast_settings, storage=storage)
    jobs.complete_job(done.id, output_key="x", content_type="image/png")
    assert republish_unfinished(queue) == 0


def test_sweepers_running_at_once_publish_each_stuck_job_once(pg_settings, tmp_path):
    settings = replace(pg_settings, stuck_job_seconds=60, max_jobs_in_flight=5)
    storage = open_storage(settings)
    queue = MemoryQueue(settings)
    owner, _ = accounts.register_telegram_user(2002, signup_bonus=5)
    stuck = [jobs.create_job(owner.id, encode(subject_image()), {}, settings=settings, storage=storage).id
             for _ in range(5)]
    for job_id in stuck:
        backdate(job_id, 3600)
    barrier = threading.Barrier(4)
    published: list[int] = []

    def sweeper() -> None:
        barrier.wait()
        published.append(sweep_once(settings, queue))

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(published) == 5
    assert queue.depth("input_queue") == 5


def test_a_sweeper_during_a_database_outage_keeps_quiet_and_sweeps_again_after_it(pg_settings, pg_proxy, caplog):
    settings = replace(pg_settings, database_url=pg_proxy.url, sweep_interval_seconds=1, stuck_job_seconds=60)
    database = connect_database(settings)
    queue, stop = MemoryQueue(settings), threading.Event()
    user, _ = accounts.register_telegram_user(7070, signup_bonus=1)
    job = jobs.create_job(user.id, encode(subject_image()), {}, settings=settings, storage=open_storage(settings))
    backdate(job.id, 3600)  # stuck, for the first sweep after the outage
    pg_proxy.refuse()
    sweeper = threading.Thread(target=run_sweeper, args=(settings, queue, stop))
    try:
        sweeper.start()
        wait_for(lambda: pg_proxy.refused >= 2, what="two sweeps during the outage")
        pg_proxy.restore()
        wait_for(lambda: queue.depth("input_queue") == 1, what="the stuck job to be published after the outage")
    finally:
        stop.set()
        sweeper.join(10)
        database.close_all()
    assert not [r for r in caplog.records if r.name == "worker.sweeper" and r.levelno >= logging.ERROR]
