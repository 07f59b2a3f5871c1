"""`python -m worker` run by a test as a deployment runs it: configured through its environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """`python -m worker` configured through its environment, as a deployment runs it."""

    def __init__(self, settings, model_path: Path, log_path: Path, **extra: str):
        environ = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
        environ.update(
            PYTHONPATH=str(ROOT), APP_ENV="test", LOG_LEVEL="INFO", JWT_SECRET="test-secret-" + "x" * 40,
            DATABASE_URL=settings.database_url, DB_POOL_SIZE="4", AMQP_URL=settings.amqp_url,
            INPUT_QUEUE=settings.input_queue, RESULT_QUEUE=settings.result_queue,
            DEAD_LETTER_QUEUE=settings.dead_letter_queue, STORAGE_DIR=settings.storage_dir,
            MODEL_DIR=settings.model_dir, REMBG_MODEL_PATH=str(model_path), WORKER_THREADS="1",
            # A short lease: a killed worker's job is taken over within seconds.
            JOB_LEASE_SECONDS="3",
        )
        environ.update(extra)
        self.log_path = log_path
        with open(log_path, "ab") as log:
            # cwd: a directory without a .env, so only this environment counts
            self.process = subprocess.Popen([sys.executable, "-m", "worker"], env=environ, cwd=log_path.parent,
                                            stdout=log, stderr=subprocess.STDOUT)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)
