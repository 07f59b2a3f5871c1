"""bench.pipeline's run of its own: a database, queue names, storage and a worker process; the Timing it measures."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.services import create_database, drop_database, process_cpu, rss_mb
from bench.services import database_url as bench_database_url

ROOT = Path(__file__).resolve().parent.parent
JOB_DEADLINE_SECONDS = 300


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds, and CPU seconds of the processes doing the work."""

    wall: float
    cpu: float


class Environment:
    """A PostgreSQL database, queue names and a storage directory of this run's own, and the worker."""

    def __init__(self, database_url: str, amqp_url: str, model_settings) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.admin_url, self.db_name = database_url, f"cutout_bench_{suffix}"
        self.storage_dir = Path(tempfile.mkdtemp(prefix="cutout-bench-"))
        self.environ = {
            "APP_ENV": "development",
            "DATABASE_URL": bench_database_url(database_url, self.db_name),
            "AMQP_URL": amqp_url,
            "INPUT_QUEUE": f"bench_input_{suffix}",
            "RESULT_QUEUE": f"bench_result_{suffix}",
            "DEAD_LETTER_QUEUE": f"bench_dead_{suffix}",
            "STORAGE_DIR": str(self.storage_dir),
            "MODEL_DIR": str(Path(model_settings.model_dir).resolve()),
            "REMBG_MODEL": model_settings.rembg_model,
            "REMBG_MODEL_PATH": str(Path(model_settings.rembg_model_path).resolve())
            if model_settings.rembg_model_path
            else "",
            "LOG_LEVEL": "WARNING",
        }
        self.worker: subprocess.Popen | None = None
        self.events: queue.Queue[str] = queue.Queue()
        self.stop = threading.Event()

    def __enter__(self) -> Environment:
        from core import accounts, migrations
        from core.db import connect_database
        from core.queue import open_queue
        from core.settings import load_settings
        from core.storage import DirectoryStore

        create_database(self.admin_url, self.db_name)
        self.settings = load_settings(self.environ, env_file=None)
        connect_database(self.settings)
        migrations.migrate()
        self.queue, self.storage = open_queue(self.settings), DirectoryStore(self.storage_dir)
        self.user_id = accounts.register_telegram_user(770001, signup_bonus=100_000)[0].id
        # Jobs with a chat get result events, as the bot's do: waiting on them costs no CPU (polling would).
        listener = threading.Thread(
            target=self.queue.consume,
            args=(self.settings.result_queue, lambda message: self.events.put(str(message["job_id"])), self.stop),
            daemon=True,
        )
        listener.start()
        self.log = (self.storage_dir / "worker.log").open("w")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            cwd=ROOT,
            env={**os.environ, **self.environ},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self

    def __exit__(self, *exc_info) -> None:
        from core.db import db
        from tests.support.queues import delete_topology

        self.stop.set()
        if self.worker and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(60)
            except subprocess.TimeoutExpired:
                self.worker.kill()
        self.queue.close()
        delete_topology(self.settings)
        db.close()
        if getattr(db.obj, "close_all", None):
            db.obj.close_all()
        drop_database(self.admin_url, self.db_name)
        shutil.rmtree(self.storage_dir, ignore_errors=True)

    def run_job(self, data: bytes, options: dict | None = None) -> Timing:
        """Submit through core, wait for the job's result event, check it is done.
        CPU: the submit call and the worker process."""
        from core import jobs

        began, worker_cpu, own_cpu = time.perf_counter(), self.worker_cpu(), time.process_time()
        options = options or {"mode": "png"}
        job = jobs.submit_job(
            self.user_id, data, options, settings=self.settings, storage=self.storage, queue=self.queue, chat_id=1
        )
        submit_cpu = time.process_time() - own_cpu
        while True:  # the worker also announces the start of a job: wait for the event of its end
            try:
                event = self.events.get(timeout=JOB_DEADLINE_SECONDS)
            except queue.Empty:
                raise SystemExit(f"no result for job {job.id}; see {self.log.name}") from None
            if event == job.id and jobs.get_job(job.id).is_finished:
                break
        timing = Timing(time.perf_counter() - began, submit_cpu + self.worker_cpu() - worker_cpu)
        view = jobs.get_job(job.id)
        if view.status != "done" or not self.storage.exists(view.output_key):
            raise SystemExit(f"job {job.id} ended {view.status} ({view.error}); see {self.log.name}")
        return timing

    def worker_cpu(self) -> float:
        """CPU seconds (user + system, all threads) the worker process has used so far."""
        return process_cpu(self.worker.pid)

    def worker_rss_mb(self) -> float:
        """The worker process's resident memory."""
        return rss_mb(self.worker.pid)
