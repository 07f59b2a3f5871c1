"""The worker with the in-process queue: job lifecycle, retries, refunds, idempotency, stopping, memory."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import pytest

from core import billing, jobs
from core.audit import check_ledger
from core.errors import DatabaseUnavailable, InvalidImage
from core.queue import Reject
from core.render import ProcessedImage
from core.settings import Settings
from tests.support.images import decode, encode, subject_image
from tests.support.jobs import ledger_of, status_of
from tests.support.queues import publish_raw
from tests.support.waiting import wait_for
from worker.handler import JobHandler, retry_delay
from worker.service import start_workers


def fake_result(data: bytes = b"cut-out") -> ProcessedImage:
    return ProcessedImage(data=data, content_type="image/png", width=1, height=1)


class FakePipeline:
    """Stands in for process_image: counts calls, raises the queued errors first."""

    def __init__(self, *errors: Exception, always: Exception | None = None):
        self.errors, self.always, self.calls = list(errors), always, 0

    def __call__(self, data, options, engine, *, max_bytes, max_pixels) -> ProcessedImage:
        self.calls += 1
        if self.always is not None:
            raise self.always
        if self.errors:
            raise self.errors.pop(0)
        return fake_result()


@pytest.fixture
def workers(fast_settings, storage, memory_queue, engine):
    """start(process=None, **overrides) runs worker threads on the in-process queue until the test ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(process=None, **overrides):
        threads.extend(start_workers(replace(fast_settings, **overrides), memory_queue, engine, stop,
                                     storage=storage, process=process))

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), f"{thread.name} did not stop"


@pytest.fixture
def submit(fast_settings, storage, memory_queue, user):
    """submit(data=None, **kwargs) submits as `user` with quick retries (in place of conftest's submit)."""
    def submit(data: bytes | None = None, **kwargs):
        photo = encode(subject_image()) if data is None else data
        return jobs.submit_job(user.id, photo, kwargs.pop("options", {}), settings=fast_settings, storage=storage,
                               queue=memory_queue, **kwargs)
    return submit


def test_photo_submitted_through_core_is_cut_out_stored_and_charged_once(workers, submit, storage, memory_queue,
                                                                          user):
    workers()
    job = submit()
    wait_for(lambda: status_of(job.id) == "done", what="the job to be done")
    job = jobs.get_job(job.id)
    cutout = decode(storage.get(job.output_key))
    assert (job.output_key, job.output_content_type) == (f"{job.id.replace('-', '')}/output.png", "image/png")
    assert (cutout.mode, cutout.size) == ("RGBA", (120, 80))
    assert cutout.getpixel((60, 40))[3] == 255 and cutout.getpixel((2, 2))[3] == 0
    assert (job.attempts, job.error) == (1, None)
    assert ledger_of(job.id) == [("charge", -1, "completed")]
    assert billing.balance(user.id).total == 2
    assert memory_queue.depth("result_queue") == 0  # no chat: nothing piles up for a bot
    assert check_ledger() == []


def test_job_with_a_chat_announces_processing_and_then_the_result(workers, submit, memory_queue):
    workers(process=FakePipeline())
    job = submit(chat_id=77)
    wait_for(lambda: memory_queue.depth("result_queue") == 2, what="two result events")
    assert status_of(job.id) == "done"


def test_bad_image_fails_at_once_with_its_reason_and_is_refunded(workers, submit, memory_queue, user):
    pipeline = FakePipeline(always=InvalidImage("This file is not an image we can read."))
    workers(process=pipeline)
    job = submit(chat_id=77)
    wait_for(lambda: memory_queue.depth("result_queue") == 2, what="processing and failure events")
    job = jobs.get_job(job.id)
    assert (job.status, job.error, job.attempts, pipeline.calls) == (
        "failed", "This file is not an image we can read.", 1, 1)
    assert ledger_of(job.id) == [("charge", -1, "refunded"), ("refund", 1, "completed")]
    assert billing.balance(user.id).total == 3
    assert check_ledger() == []


def test_truncated_photo_fails_in_the_real_pipeline_and_is_refunded(workers, submit, user):
    workers()
    whole = encode(subject_image((400, 300)))
    job = submit(whole[: len(whole) // 2])
    wait_for(lambda: status_of(job.id) == "failed", what="the job to fail")
    assert jobs.get_job(job.id).attempts == 1
    assert billing.balance(user.id).total == 3
    assert check_ledger() == []


def test_transient_error_is_retried_and_the_job_then_succeeds(workers, submit, storage, user):
    pipeline = FakePipeline(RuntimeError("onnxruntime hiccup"))
    workers(process=pipeline)
    job = submit()
    wait_for(lambda: status_of(job.id) == "done", what="the retried job to be done")
    job = jobs.get_job(job.id)
    assert (job.attempts, job.error, pipeline.calls) == (2, None, 2)
    assert storage.get(job.output_key) == b"cut-out"
    assert ledger_of(job.id) == [("charge", -1, "completed")]
    assert check_ledger() == []


def test_job_failing_every_attempt_fails_after_max_attempts_and_is_refunded_once(workers, submit, memory_queue,
                                                                                user):
    pipeline = FakePipeline(always=RuntimeError("out of memory"))
    workers(process=pipeline, max_attempts=3)
    job = submit(chat_id=77)
    # three "processing" events and one failure event
    wait_for(lambda: memory_queue.depth("result_queue") == 4, what="the failure event")
    job = jobs.get_job(job.id)
    assert (job.status, job.attempts, pipeline.calls) == ("failed", 3, 3)
    assert job.error == "The photo could not be processed; please try again later."
    assert ledger_of(job.id) == [("charge", -1, "refunded"), ("refund", 1, "completed")]
    assert billing.balance(user.id).total == 3
    assert memory_queue.depth("input_queue") == 0
    assert check_ledger() == []


def test_retry_waits_double_each_time_up_to_a_cap():
    settings = Settings(retry_backoff_seconds=2.0)
    assert [retry_delay(settings, attempt) for attempt in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert retry_delay(settings, 30) == 300.0


def test_redelivered_message_for_a_done_job_charges_nothing_and_publishes_nothing(workers, submit, fast_settings,
                                                                                 storage, memory_queue):
    workers(process=FakePipeline())
    job = submit(chat_id=77)
    wait_for(lambda: memory_queue.depth("result_queue") == 2, what="the job's events")
    before = (ledger_of(job.id), jobs.get_job(job.id))
    untouchable = FakePipeline(always=AssertionError("a done job must not run again"))
    handler = JobHandler(fast_settings, memory_queue, storage, None, threading.Event(), process=untouchable)
    handler({"job_id": job.id, "v": 1})
    assert (ledger_of(job.id), jobs.get_job(job.id)) == before
    assert untouchable.calls == 0
    assert memory_queue.depth("result_queue") == 2
    assert check_ledger() == []


def test_message_for_an_unknown_job_or_not_a_job_event_is_dead_lettered(workers, memory_queue):
    workers(process=FakePipeline())
    memory_queue.publish("input_queue", str(uuid.uuid4()))
    publish_raw(memory_queue, "input_queue", b"not json at all")
    wait_for(lambda: memory_queue.depth(memory_queue.dead_letter_queue) == 2, what="two dead letters")
    assert memory_queue.depth("input_queue") == 0


def test_handler_rejects_an_unknown_job(fast_settings, storage, memory_queue):
    handler = JobHandler(fast_settings, memory_queue, storage, None, threading.Event(), process=FakePipeline())
    with pytest.raises(Reject, match="does not exist"):
        handler({"job_id": str(uuid.uuid4()), "v": 1})


def test_job_whose_attempts_all_died_is_failed_without_running_again(fast_settings, storage, memory_queue, user):
    job = jobs.create_job(user.id, encode(subject_image()), {}, settings=fast_settings, storage=storage)
    for number in range(fast_settings.max_attempts):
        # Each worker died mid-job: the attempt counted, the job never finished, the lease ran out.
        assert jobs.start_job(job.id, worker=f"dead:{number}", lease_seconds=0)
    pipeline = FakePipeline()
    JobHandler(fast_settings, memory_queue, storage, None, threading.Event(), process=pipeline)({"job_id": job.id})
    job = jobs.get_job(job.id)
    assert (job.status, pipeline.calls) == ("failed", 0)
    assert ledger_of(job.id) == [("charge", -1, "refunded"), ("refund", 1, "completed")]
    assert check_ledger() == []


def test_start_with_the_in_process_queue_finishes_jobs_left_unfinished(workers, fast_settings, storage, user):
    waiting = jobs.create_job(user.id, encode(subject_image()), {}, settings=fast_settings, storage=storage)
    interrupted = jobs.create_job(user.id, encode(subject_image()), {}, settings=fast_settings, storage=storage)
    jobs.start_job(interrupted.id)  # the process stopped while this one ran
    workers(process=FakePipeline())
    wait_for(lambda: {status_of(waiting.id), status_of(interrupted.id)} == {"done"}, what="both jobs done")
    assert check_ledger() == []


def test_stop_finishes_the_job_in_hand_and_takes_no_other(fast_settings, storage, memory_queue, engine, submit):
    entered, release = threading.Event(), threading.Event()

    def slow(data, options, engine, **limits):
        entered.set()
        release.wait(10)
        return fake_result()

    stop = threading.Event()
    threads = start_workers(fast_settings, memory_queue, engine, stop, storage=storage, process=slow)
    first, second = submit(), submit()
    assert entered.wait(10)
    stop.set()
    release.set()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert (status_of(first.id), status_of(second.id)) == ("done", "queued")
    assert memory_queue.depth("input_queue") == 1


def test_freed_memory_goes_back_once_the_worker_has_been_idle_a_while_not_between_jobs(
        fast_settings, storage, memory_queue, submit, monkeypatch):
    trims: list[str] = []
    monkeypatch.setattr("worker.handler.release_freed_memory", lambda: trims.append("trim"))
    entered, release = threading.Event(), threading.Event()

    def gated(data, options, engine, **limits):
        entered.set()
        release.wait(10)
        return fake_result()

    handler = JobHandler(fast_settings, memory_queue, storage, None, threading.Event(), process=gated)
    first = submit()
    running = threading.Thread(target=handler, args=({"job_id": first.id},))
    running.start()
    assert entered.wait(10)
    assert handler.release_memory_if_idle(after=0) is False  # a job in hand
    release.set()
    running.join(10)
    assert handler.release_memory_if_idle(after=60) is False  # not idle long enough yet
    assert handler.release_memory_if_idle(after=0) is True and trims == ["trim"]
    assert handler.release_memory_if_idle(after=0) is False  # once per idle spell
    handler({"job_id": submit().id})
    assert handler.release_memory_if_idle(after=0) is True and trims == ["trim", "trim"]


def test_running_workers_hand_memory_back_when_idle(workers, submit, monkeypatch):
    trims: list[str] = []
    monkeypatch.setattr("worker.handler.release_freed_memory", lambda: trims.append("trim"))
    monkeypatch.setattr("worker.handler.IDLE_TRIM_SECONDS", 0.0)
    monkeypatch.setattr("worker.service.TRIM_CHECK_SECONDS", 0.02)
    workers(process=FakePipeline())
    job = submit()
    wait_for(lambda: status_of(job.id) == "done" and trims == ["trim"])


@pytest.mark.parametrize(("process", "finish", "status"), [
    (FakePipeline(), "complete_job", "done"),
    (FakePipeline(always=InvalidImage("Not a photo.")), "fail_job", "failed"),
])
def test_a_finish_whose_commit_answer_was_lost_is_still_announced(workers, submit, memory_queue, monkeypatch,
                                                                  process, finish, status):
    """The commit reached the server, its answer did not (a failover at that moment): the step is
    taken again, finds the job finished by this very worker, and the chat is told all the same."""
    real, lost = getattr(jobs, finish), []

    def commit_then_lose_the_answer(*args, **kwargs):
        done = real(*args, **kwargs)
        if not lost:
            lost.append(done)
            raise DatabaseUnavailable()
        return done

    monkeypatch.setattr(jobs, finish, commit_then_lose_the_answer)
    workers(process=process)
    job = submit(chat_id=78)
    wait_for(lambda: memory_queue.depth("result_queue") == 2, what="the processing and the result events")
    assert lost == [True] and status_of(job.id) == status
    assert len(ledger_of(job.id)) == (1 if status == "done" else 2) and check_ledger() == []
