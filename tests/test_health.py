import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.health import beat, is_fresh, start_heartbeat
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent


def healthcheck(path, max_age="120"):
    return subprocess.run([sys.executable, "-m", "core", "healthcheck", "--heartbeat", str(path),
                           "--max-age", max_age], cwd=ROOT, capture_output=True, timeout=60).returncode


def test_a_fresh_heartbeat_is_healthy_and_a_stale_or_missing_one_is_not(tmp_path):
    path = tmp_path / "health" / "worker"
    assert healthcheck(path) == 1
    beat(path)
    assert is_fresh(path, 5) and healthcheck(path) == 0
    old = time.time() - 600
    os.utime(path, (old, old))
    assert not is_fresh(path, 120) and healthcheck(path) == 1


def test_the_heartbeat_thread_stops_beating_when_the_process_is_not_alive(tmp_path):
    path, stop, alive = tmp_path / "bot", threading.Event(), threading.Event()
    asked: list[bool] = []

    def is_alive() -> bool:
        asked.append(alive.is_set())
        return asked[-1]

    thread = start_heartbeat(path, stop, interval=0.01, alive=is_alive)
    try:
        # A second question means the thread has been through a whole round with the process not alive.
        wait_for(lambda: asked.count(False) >= 2, timeout=5, what="the heartbeat thread to ask twice")
        assert not path.exists()
        alive.set()
        wait_for(path.exists, timeout=5, what="the heartbeat once the process is alive")
        assert is_fresh(path, 5)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
