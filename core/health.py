"""Liveness of processes without an HTTP port (worker, bot): a heartbeat file they touch."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def heartbeat_path(storage_dir: str | Path, process: str) -> Path:
    """Where a process keeps its heartbeat: var/health/<process>, beside the storage directory
    (so one shared volume holds both in docker-compose)."""
    return Path(storage_dir).parent / "health" / process


def beat(path: str | Path) -> None:
    """Record that the process is alive now."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch()


def is_fresh(path: str | Path, max_age_seconds: float) -> bool:
    """True when the heartbeat file was touched within the last max_age_seconds."""
    try:
        return time.time() - Path(path).stat().st_mtime <= max_age_seconds
    except FileNotFoundError:
        return False


def start_heartbeat(path: str | Path, stop: threading.Event, interval: float = 30.0,
                    alive=lambda: True) -> threading.Thread:
    """A daemon thread touching `path` every interval while `alive()` holds and until `stop` is set."""
    def run() -> None:
        while not stop.is_set():
            if alive():
                try:
                    beat(path)
                except OSError as exc:
                    logger.warning("cannot write heartbeat %s: %s", path, exc)
            stop.wait(interval)

    thread = threading.Thread(target=run, name="heartbeat", daemon=True)
    thread.start()
    return thread
