"""A service's own process (`python -m bot`, `python -m worker`) run by a test as a deployment runs
it: configured through its environment only, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def process_env(tmp_path, **values) -> dict[str, str]:
    """A clean environment: no .env is read (the process runs in tmp_path), only what the test sets."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "APP_ENV": "test",
           "DATABASE_URL": f"sqlite:///{tmp_path}/test.db", "STORAGE_DIR": str(tmp_path / "storage"),
           "JWT_SECRET": "test-secret-" + "x" * 40, "LOG_LEVEL": "INFO"}
    env.update({key.upper(): str(value) for key, value in values.items()})
    return env


@contextmanager
def running(module: str, tmp_path, **values):
    """A `python -m module` process logging to tmp_path/<module>.log; on exit SIGTERM, and it must
    stop by itself with status 0 (its whole log is then `process.log`)."""
    log = tmp_path / f"{module}.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", module], cwd=tmp_path,
                                   env=process_env(tmp_path, **values), stdout=out, stderr=subprocess.STDOUT)
    process.log_path = log
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        process.log = log.read_text()
    assert code == 0, f"{module} exited {code}:\n{process.log[-3000:]}"
