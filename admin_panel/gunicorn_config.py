"""gunicorn's hooks for the panel: prometheus_client's multiprocess mode, so that /metrics sums the
counters of every gunicorn process whichever one answers the scrape. Compose loads this file
(`--config=python:admin_panel.gunicorn_config`); `python -m admin_panel` sets the same hooks.

The master sets PROMETHEUS_MULTIPROC_DIR to an empty directory of its own (in /dev/shm: memory,
not disk) before any worker starts; each worker imports prometheus_client after the fork and
keeps its counters in a file there; a worker that exits is marked dead, and the master removes
the directory when it stops. An operator may set PROMETHEUS_MULTIPROC_DIR to choose the place."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# gthread's threads per gunicorn process (compose's --threads says the same; a test checks it).
# Requests that wait for a job (POST /v1.0/removebg, GET /api/v1/jobs/<id>?wait=) may hold all
# but RESERVED_THREADS of them; past that they are answered at once, so /healthz and the rest of
# the API always find a free thread. A waiting request holds no database connection while it
# sleeps (core.finished), so the threads outnumber the pool (DB_POOL_SIZE) without starving it.
THREADS = 32
RESERVED_THREADS = 4
_created: list[str] = []


def prepare() -> str:
    """Point PROMETHEUS_MULTIPROC_DIR at an empty directory (made now, unless one is set); call it
    before prometheus_client is imported in this process or any process forked from it."""
    path = os.environ.get(VARIABLE)
    if not path:
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
        path = os.path.join(base, f"cutout-panel-metrics-{os.getpid()}")
        _created.append(path)
    os.makedirs(path, exist_ok=True)
    for stale in Path(path).glob("*.db"):  # counters of an earlier run would be summed in
        stale.unlink(missing_ok=True)
    os.environ[VARIABLE] = path
    return path


def on_starting(server) -> None:
    prepare()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    for path in _created:
        shutil.rmtree(path, ignore_errors=True)
