"""Errors for people, details for operators: an exception inside the worker never reaches a job's
error (the API, the web page, the chat); it is logged with the job id."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from core.failures import PROCESSING_FAILED, TRYING_AGAIN
from tests.support.panel import Panel
from tests.support.waiting import wait_for
from tests.test_worker import FakePipeline
from worker.service import start_workers

SECRET_DETAIL = "unsupported operand type(s) for +: 'NoneType' and 'int' in /app/worker/pipeline.py"


def test_a_worker_exception_never_reaches_the_api_but_is_logged_with_the_job_id(fast_settings, engine, caplog):
    panel = Panel.build(replace(fast_settings, max_attempts=2, retry_backoff_seconds=0.5))
    user = panel.user(credits=3)
    stop = threading.Event()
    threads = start_workers(panel.settings, panel.queue, engine, stop, storage=panel.storage,
                            process=FakePipeline(always=TypeError(SECRET_DETAIL)))
    try:
        with caplog.at_level(logging.WARNING):
            job_id = panel.submit(user).get_json()["id"]
            seen = []

            def answer():
                body = panel.client.get(f"/api/v1/jobs/{job_id}", headers=panel.auth(user)).get_json()
                seen.append(body)
                return body["status"] == "failed"

            wait_for(answer, timeout=15, what="the job to fail")
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    errors = {body["error"] for body in seen}
    assert errors <= {None, TRYING_AGAIN, PROCESSING_FAILED} and seen[-1]["error"] == PROCESSING_FAILED
    listed = panel.client.get("/api/v1/jobs", headers=panel.auth(user)).get_data(as_text=True)
    assert "TypeError" not in listed and "NoneType" not in listed
    logged = [r for r in caplog.records if getattr(r, "job_id", None) == job_id]
    assert any(SECRET_DETAIL in r.getMessage() for r in logged)
    assert any(r.levelname == "ERROR" and "giving up" in r.getMessage() for r in logged)
