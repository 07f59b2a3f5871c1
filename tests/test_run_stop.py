"""Ctrl-C on `make run` while a request is in hand: the request is answered, then the panel closes."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request

from flask import Flask
from waitress.server import create_server

import run


def test_stopping_the_panel_answers_the_request_in_hand_first(caplog):
    app = Flask(__name__)

    @app.get("/slow")
    def slow():
        time.sleep(1.0)
        return "done"

    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    answered = {}

    def client():
        with urllib.request.urlopen(f"http://127.0.0.1:{server.effective_port}/slow", timeout=10) as response:
            answered["reply"] = response.status, response.read()

    asking = threading.Thread(target=client)
    asking.start()
    time.sleep(0.4)  # the request is in a handler thread now
    with caplog.at_level(logging.ERROR, logger="waitress"):
        run.stop_panel(server, thread)
    asking.join(10)
    assert answered.get("reply") == (200, b"done")
    assert not [record for record in caplog.records if record.name.startswith("waitress")]
    assert not thread.is_alive()
