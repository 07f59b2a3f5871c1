"""The worker process: one inference engine, WORKER_THREADS consumers of input_queue, a sweeper."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from core import bootstrap, jobs
from core.errors import DatabaseUnavailable, SettingsError
from core.health import heartbeat_path, start_heartbeat
from core.metrics import serve as serve_metrics
from core.queue import JobQueue, MemoryQueue
from core.settings import Settings
from core.storage import Store, open_storage
from worker.engine import load_engine
from worker.handler import JobHandler, Process
from worker.sweeper import republish_unfinished, start_sweeper

logger = logging.getLogger(__name__)

CONSUMER_RESTART_SECONDS = 5
TRIM_CHECK_SECONDS = 1.0


def start_workers(settings: Settings, queue: JobQueue, engine, stop: threading.Event, *,
                  storage: Store | None = None, process: Process | None = None,
                  sweep: bool = True) -> list[threading.Thread]:
    """Run the worker inside this process (as `make run` does): WORKER_THREADS consumer threads
    and, with `sweep`, the sweeper. They end once `stop` is set and their job in hand is done.
    `engine`: the process's loaded engine (worker.engine), or None to load it now (once per process)."""
    if engine is None and process is None:
        engine = load_engine(settings)
    handler = JobHandler(settings, queue, storage or open_storage(settings), engine, stop, process=process)
    return start_threads(settings, queue, handler, stop, sweep=sweep)


def start_threads(settings: Settings, queue: JobQueue, handler: JobHandler, stop: threading.Event, *,
                  sweep: bool = True) -> list[threading.Thread]:
    """Start the consumers of input_queue (and the sweeper) around an existing handler."""
    threads = []
    if sweep:
        if isinstance(queue, MemoryQueue):
            republish_unfinished(queue)
        threads.append(start_sweeper(settings, queue, stop))
    for number in range(1, settings.worker_threads + 1):
        thread = threading.Thread(target=_consume, args=(queue, settings.input_queue, handler, stop),
                                  name=f"worker-{number}", daemon=True)
        thread.start()
        threads.append(thread)
    upkeep = threading.Thread(target=_upkeep, args=(settings, handler, stop), name="upkeep", daemon=True)
    upkeep.start()
    threads.append(upkeep)
    return threads


def _upkeep(settings: Settings, handler: JobHandler, stop: threading.Event) -> None:
    """Renew the leases of the jobs in hand every third of JOB_LEASE_SECONDS, and once a second give
    freed memory back if the worker has been idle long enough."""
    renew_every, renewed = settings.job_lease_seconds / 3, time.monotonic()
    while not stop.wait(TRIM_CHECK_SECONDS):
        if time.monotonic() - renewed >= renew_every:
            renewed = time.monotonic()
            try:
                handler.renew_leases()
            except DatabaseUnavailable:  # logged once per outage by core; the next round renews them
                pass
            except Exception:
                logger.exception("could not renew the leases of the jobs in hand")
        handler.release_memory_if_idle()


def _consume(queue: JobQueue, queue_name: str, handler: JobHandler, stop: threading.Event) -> None:
    """queue.consume, restarted after an unexpected error so the process never silently loses a thread."""
    while not stop.is_set():
        try:
            queue.consume(queue_name, handler, stop)
        except Exception:
            logger.exception("consumer of %s stopped on an unexpected error; restarting it in %d s",
                             queue_name, CONSUMER_RESTART_SECONDS)
            stop.wait(CONSUMER_RESTART_SECONDS)


def main() -> int:
    """`python -m worker`: load the model once, consume until SIGTERM or SIGINT, exit 0."""
    runtime = bootstrap.open_runtime(bootstrap.start())  # refuses a database with pending migrations
    settings, queue = runtime.settings, runtime.queue
    if isinstance(queue, MemoryQueue):
        logger.warning("AMQP_URL is not set: this worker only sees the jobs it finds in the database at start "
                       "and those the sweeper finds later; set AMQP_URL, or use `make run` for one process")
    try:
        engine = load_engine(settings)
    except SettingsError as exc:  # including ModelUnavailable
        logger.error("cannot start the worker: %s", exc)
        return 2
    stop = threading.Event()
    handler = JobHandler(settings, queue, runtime.storage, engine, stop)
    _handle_signals(stop, handler)
    threads = start_threads(settings, queue, handler, stop)
    consumers = [thread for thread in threads if thread.name.startswith("worker-")]
    start_heartbeat(heartbeat_path(settings.storage_dir, "worker"), stop,
                    alive=lambda: all(thread.is_alive() for thread in consumers))
    serve_metrics(settings)
    logger.info("worker ready: %d threads consuming %s (pid %d)", settings.worker_threads, settings.input_queue,
                os.getpid())
    while not stop.wait(1.0):
        pass
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)  # in slices, so a second signal is still handled
    queue.close()
    logger.info("worker stopped")
    return 0


def _handle_signals(stop: threading.Event, handler: JobHandler) -> None:
    """First SIGTERM/SIGINT: take no new job, finish the ones in hand. Second: hand them back now."""

    def on_signal(signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if not stop.is_set():
            logger.info("%s: finishing the jobs in hand, then stopping", name)
            stop.set()
            return
        in_hand = handler.in_hand()
        logger.warning("second %s: handing back %d jobs and stopping now", name, len(in_hand))
        for job_id in in_hand:
            jobs.requeue_job(job_id, error="Handed back by a worker that was stopped")
        # Exiting closes the broker connection, which returns the unacked messages to the queue.
        os._exit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
