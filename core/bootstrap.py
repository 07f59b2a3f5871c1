"""Start-up shared by every process: settings, logging, the database and its schema, then the
queue and storage the process runs on."""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass

from peewee import InterfaceError, OperationalError

from core import migrations
from core.db import connect_database, wait_for_database
from core.errors import SettingsError
from core.logs import configure_logging
from core.outages import reason
from core.queue import JobQueue, open_queue
from core.settings import Settings, load_settings
from core.storage import Store, open_storage

logger = logging.getLogger(__name__)

# What start() does about pending migrations: `make run` and `python -m core migrate` apply them;
# every other process refuses to run on a schema older than its code.
APPLY, CHECK, SKIP = "apply", "check", "skip"


@dataclass(frozen=True)
class Runtime:
    """The shared services a process runs on."""

    settings: Settings
    queue: JobQueue
    storage: Store


def load_or_exit() -> Settings:
    """Settings, or one clear line on stderr and exit status 2."""
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def start(settings: Settings | None = None, *, schema: str = CHECK) -> Settings:
    """Load settings (unless given), configure logging, bind the database and apply or check its
    migrations (`schema`: APPLY, CHECK or SKIP); a pending migration under CHECK is one clear line
    on stderr and exit status 2. A database that cannot be reached is waited for (logged once by
    core.outages), so a process started during an outage runs once it is over instead of exiting;
    one that refuses the configuration (no such database or role, a wrong password) is one clear
    line and exit status 2."""
    settings = settings or load_or_exit()
    configure_logging(settings)
    connect_database(settings)
    try:
        wait_for_database(threading.Event())
    except (OperationalError, InterfaceError) as exc:
        print(f"the database refuses this configuration: {reason(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    if schema == APPLY:
        if applied := migrations.migrate():
            logger.info("applied migrations: %s", ", ".join(applied))
    elif schema == CHECK and (pending := migrations.pending()):
        print(f"the database needs migrations ({', '.join(pending)}): run `python -m core migrate`",
              file=sys.stderr)
        raise SystemExit(2)
    return settings


def open_runtime(settings: Settings) -> Runtime:
    """The queue and storage of the settings (after start(); a forked server opens them per worker)."""
    return Runtime(settings, open_queue(settings), open_storage(settings))
