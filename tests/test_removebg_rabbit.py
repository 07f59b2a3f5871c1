"""Synchronous requests over the real RabbitMQ: every panel process hears each finished job on the
fanout exchange, and a POST /v1.0/removebg is woken by the worker's announcement, not by a read of
the database."""

from __future__ import annotations

import io
import threading
import time

from admin_panel import create_app
from core import tokens
from core.storage import open_storage
from tests.support.images import encode, subject_image
from tests.support.panel import Panel
from tests.support.waiting import wait_for
from worker.service import start_workers


def test_every_listening_process_hears_each_finished_job(rabbit_settings, rabbit_queue):
    heard: list[list[str]] = [[], []]
    stop = threading.Event()
    listeners = [threading.Thread(target=rabbit_queue(rabbit_settings).listen_finished,
                                  args=(heard[n].append, stop), daemon=True) for n in (0, 1)]
    for listener in listeners:
        listener.start()
    publisher = rabbit_queue(rabbit_settings)
    try:
        wait_for(lambda: _published_and_heard(publisher, heard), timeout=10)
    finally:
        stop.set()
        for listener in listeners:
            listener.join(5)
    assert all("job-1" in each for each in heard)


def _published_and_heard(publisher, heard) -> bool:
    publisher.publish_finished("job-1")  # again until both listeners are bound and hear it
    time.sleep(0.1)
    return all(heard)


def test_a_request_is_woken_by_the_workers_announcement(pg_settings, amqp_names, rabbit_queue, engine, tmp_path):
    settings = pg_settings.__class__(**{**pg_settings.__dict__, **amqp_names})
    queue, storage = rabbit_queue(settings), open_storage(settings)
    app = create_app(settings, queue=queue, storage=storage)
    panel = Panel(settings, app, app.test_client(), queue, storage)
    stop = threading.Event()
    workers = start_workers(settings, rabbit_queue(settings), engine, stop, storage=storage, sweep=False)
    try:
        user = panel.user(credits=3)
        key = tokens.issue_api_key(user.id, settings)
        photo = encode(subject_image((120, 80)), "JPEG")
        for _ in range(2):  # the first request also starts the process's listener
            began = time.monotonic()
            response = panel.client.post("/v1.0/removebg", data={"image_file": (io.BytesIO(photo), "p.jpg")},
                                         headers={"X-Api-Key": key}, content_type="multipart/form-data")
            took = time.monotonic() - began
            assert response.status_code == 200, response.get_json()
        assert took < 3.0  # a lost announcement would have waited for the 5 s safety read
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)
        app.extensions["cutout"].finished.close()
