"""GET /api/v1/jobs/<id>?wait=N: the answer as soon as the job is finished, without polling; on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from core import jobs
from core.db import db
from core.errors import JobNotFound
from tests.support.panel import Panel
from tests.test_api import assert_error


@pytest.fixture
def panel(settings):
    return Panel.build(settings)


def finish_later(panel, job_id: str, delay: float) -> threading.Thread:
    """A worker's part, `delay` seconds from now, in a thread of its own (with its own connection)."""
    def work() -> None:
        time.sleep(delay)
        try:
            panel.finish(job_id)
        finally:
            db.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def get(panel, user, job_id: str, wait: str):
    began = time.monotonic()
    response = panel.client.get(f"/api/v1/jobs/{job_id}?wait={wait}", headers=panel.auth(user))
    return response, time.monotonic() - began


def test_the_answer_comes_as_soon_as_the_job_is_done(panel):
    user = panel.user()
    job = panel.job(user)
    worker = finish_later(panel, job.id, 0.3)
    response, took = get(panel, user, job.id, "20")
    worker.join()
    assert response.status_code == 200
    assert response.get_json()["status"] == "done" and response.get_json()["result_url"]
    assert 0.3 <= took < 5


def test_after_n_seconds_the_job_comes_as_it_is(panel):
    user = panel.user()
    job = panel.job(user)
    response, took = get(panel, user, job.id, "1")
    assert response.get_json()["status"] == "queued"
    assert "Retry-After" not in response.headers
    assert 1 <= took < 4


def test_after_n_seconds_the_job_comes_as_it_is_then_not_as_it_was(panel):
    user = panel.user()
    job = panel.job(user)

    def start_soon() -> None:
        time.sleep(0.3)
        try:
            jobs.start_job(job.id)
        finally:
            db.close()

    starter = threading.Thread(target=start_soon)
    starter.start()
    response, took = get(panel, user, job.id, "2")
    starter.join()
    body = response.get_json()
    assert (body["status"], body["attempts"]) == ("processing", 1) and body["started_at"]
    assert 2 <= took < 5


def test_a_finished_job_is_answered_at_once(panel):
    user = panel.user()
    job = panel.finish(panel.job(user).id)
    response, took = get(panel, user, job.id, "20")
    assert response.get_json()["status"] == "done"
    assert took < 1


@pytest.mark.parametrize("wait", ["-1", "21", "1.5", "x", "", "²", "9" * 5000])
def test_wait_is_a_whole_number_of_seconds_from_0_to_20(panel, wait):
    user = panel.user()
    job = panel.job(user)
    response, _ = get(panel, user, job.id, wait)
    assert_error(response, 400, "bad_request")


def test_someone_elses_job_is_404_with_wait_too(panel):
    owner, other = panel.user(), panel.user()
    job = panel.job(owner)
    response, took = get(panel, other, job.id, "5")
    assert response.status_code == 404 and took < 1
    with pytest.raises(JobNotFound):
        panel.app.extensions["cutout"].finished.wait(job.id, other.id, timeout=5)


def test_while_every_waiting_slot_is_taken_the_answer_comes_at_once_with_retry_after(panel):
    user = panel.user()
    job = panel.job(user)
    waiters = panel.app.extensions["cutout"].waiters
    taken = 0
    while waiters.acquire(blocking=False):
        taken += 1
    try:
        assert taken == 28  # gunicorn's 32 threads per process but the 4 kept for everyone else
        response, took = get(panel, user, job.id, "20")
    finally:
        for _ in range(taken):
            waiters.release()
    assert response.get_json()["status"] == "queued"
    assert response.headers["Retry-After"] == "1"
    assert took < 1


@pytest.mark.parametrize("page", ["²", "٣", "9" * 5000])
def test_a_page_number_in_other_digits_is_400_not_500(panel, page):
    user = panel.user()
    response = panel.client.get(f"/api/v1/jobs?page={page}", headers=panel.auth(user))
    assert_error(response, 400, "bad_request")
