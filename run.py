"""`make run`: Cutout in ONE process - the panel and REST API, worker threads, the sweeper,
result delivery and (with TELEGRAM_BOT_TOKEN) the bot, sharing one queue.

SQLite and the in-process queue by default; PostgreSQL and RabbitMQ when DATABASE_URL and
AMQP_URL are set. Ctrl-C (or SIGTERM) stops everything; jobs still queued are picked up again
at the next start.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from waitress.server import create_server

from core.bootstrap import APPLY, load_or_exit, open_runtime, start
from core.cli import announce_first_admin
from core.errors import CutoutError
from core.settings import Settings

logger = logging.getLogger("cutout")

PANEL_THREADS = 8


def start_panel(settings: Settings, queue, storage) -> tuple:
    """The panel and REST API under waitress (a production WSGI server that runs in this process)."""
    from admin_panel import create_app

    app = create_app(settings, queue=queue, storage=storage, waiting_requests=PANEL_THREADS // 2)
    server = create_server(app, host=settings.panel_host, port=settings.panel_port, threads=PANEL_THREADS,
                           max_request_body_size=settings.max_upload_bytes + 64 * 1024)
    thread = threading.Thread(target=server.run, name="panel", daemon=True)
    thread.start()
    return server, thread


def stop_panel(server, thread: threading.Thread, timeout: float = 25.0) -> None:
    """Let the requests in hand finish (a ?wait= takes up to 20 s), then close the server. Closing
    first took the wake-up pipe from under a request that was finishing (waitress logged EBADF and
    the client got no answer)."""
    server.task_dispatcher.shutdown(timeout=timeout)
    server.close()
    thread.join(timeout=5)


def start_workers(settings: Settings, queue, storage, stop: threading.Event) -> list[threading.Thread]:
    """Load the model once, then worker threads and the sweeper."""
    from worker.engine import load_engine
    from worker.model_fetch import usable_model
    from worker.service import start_workers as start_worker_threads

    model = usable_model(settings) if settings.app_env == "development" else None
    if model and model.rembg_model_path != settings.rembg_model_path:
        logger.warning("%s is not in %s: using the development weights %s (AGPL-3.0, not for production)",
                       settings.rembg_model, settings.model_dir, model.rembg_model_path)
    engine = load_engine(model or settings)
    return start_worker_threads(settings, queue, engine, stop, storage=storage)


def run_bot(settings: Settings, queue, storage) -> None:
    """The bot in the main thread until SIGINT/SIGTERM (python-telegram-bot owns the signals)."""
    from bot.app import build_application
    from bot.run import serve

    serve(build_application(settings, queue=queue, storage=storage), settings)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    while not stopped.wait(1.0):
        pass


def main() -> int:
    settings = load_or_exit()
    if settings.telegram_bot_token:
        from bot.run import settings_problem  # the bot's modules load only when it runs

        if problem := settings_problem(settings):
            print(f"configuration error: {problem}", file=sys.stderr)
            return 2
    settings = start(settings, schema=APPLY)
    try:
        announce_first_admin(settings)  # before the panel takes registrations
        runtime, stop = open_runtime(settings), threading.Event()
        queue, storage = runtime.queue, runtime.storage
        workers = start_workers(settings, queue, storage, stop)
    except CutoutError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    server, panel = start_panel(settings, queue, storage)
    print(f"  Cutout is running: panel and API on {settings.public_url}  (Ctrl-C stops)", flush=True)
    if settings.telegram_bot_token:
        run_bot(settings, queue, storage)
    else:
        print("  Telegram bot: off. Put TELEGRAM_BOT_TOKEN=<token from @BotFather> in .env to enable it.",
              flush=True)
        wait_for_signal()
    logger.info("stopping: finishing the jobs in hand")
    stop.set()
    stop_panel(server, panel)
    for thread in workers:
        thread.join(timeout=60)
    queue.close()
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
