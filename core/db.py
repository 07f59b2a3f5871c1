"""The database handle: SQLite (WAL) by default, pooled PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

from peewee import Database, DatabaseProxy, InterfaceError, OperationalError, SqliteDatabase
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase

from core.errors import DatabaseUnavailable
from core.outages import Outage, connection_lost
from core.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Models bind to this proxy; `connect_database` points it at the real database.
db = DatabaseProxy()
# A pool used up is logged at most this often (each request it refuses answers 503).
POOL_WARNING_SECONDS = 60.0
# wait_for_database: the first pause between tries, doubled up to the last.
WAIT_SECONDS = (0.25, 2.0)
# A server that falls silent mid-statement (its host gone, a failover moving its address) gives
# no reset: TCP keepalives probe it after 2 s of silence, and Linux drops the connection once
# probes or data stay unacknowledged for libpq's tcp_user_timeout (5 s; with it set, the kernel
# goes by that rather than keepalives_count), rather than the kernel's minutes.
# A slow statement is not silence: the server's kernel answers the probes.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 2, "keepalives_interval": 1, "keepalives_count": 3,
             "tcp_user_timeout": 5000}


class PostgresDatabase(PooledPostgresqlDatabase):
    """Pooled PostgreSQL that raises DatabaseUnavailable, and nothing else, when the server cannot
    be reached, drops a connection or has no pooled connection free in time; an outage is
    logged once (core.outages). A dropped connection is let go, so the next unit of work
    connects afresh."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outage = Outage(f"{kwargs.get('host')}:{kwargs.get('port')}/{args[0] if args else ''}")
        self._pool_said = -POOL_WARNING_SECONDS  # when the used-up pool was last logged

    def connect(self, reuse_if_open: bool = False) -> bool:
        try:
            opened = super().connect(reuse_if_open)
        except MaxConnectionsExceeded as exc:
            now = time.monotonic()
            if now - self._pool_said >= POOL_WARNING_SECONDS:
                self._pool_said = now
                logger.warning("every one of the %d pooled database connections stayed busy for %s s; requests "
                               "answer 'unavailable' (raise DB_POOL_SIZE, or look for slow statements)",
                               self._max_connections, self._wait_timeout)
            raise DatabaseUnavailable("Every database connection is busy; try again in a few seconds.") from exc
        except (OperationalError, InterfaceError) as exc:
            if not connection_lost(exc):
                raise
            self.outage.began(exc)
            raise DatabaseUnavailable() from exc
        self.outage.ended()
        return opened

    def _connect(self):
        # Under peewee's connection lock: callers queued behind a try that failed are refused at once.
        self.outage.refuse_while_down()
        return super()._connect()

    def execute_sql(self, sql, params=None):
        with self._unavailable_when_lost():
            return super().execute_sql(sql, params)

    def begin(self, *args, **kwargs):
        with self._unavailable_when_lost():
            return super().begin(*args, **kwargs)

    def commit(self):
        with self._unavailable_when_lost():
            return super().commit()

    def rollback(self):
        with self._unavailable_when_lost():
            return super().rollback()

    @contextmanager
    def _unavailable_when_lost(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError) as exc:
            if not connection_lost(exc):
                raise
            if not self.in_transaction():  # inside one, the pool drops it when it comes back (_can_reuse)
                self.manual_close()
            raise DatabaseUnavailable() from exc


def make_database(url: str, pool_size: int = 10, *, connect_timeout: int = 3, pool_timeout: int = 5) -> Database:
    """Build (but do not open) the database named by a sqlite:/// or postgresql:// URL. PostgreSQL
    gives up opening a connection after `connect_timeout` seconds and waiting for a free pooled one
    after `pool_timeout`."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue on
        # busy_timeout instead of failing when a read lock cannot be upgraded.
        return SqliteDatabase(
            path,
            lock_type="IMMEDIATE",
            pragmas={"journal_mode": "wal", "busy_timeout": 10000, "foreign_keys": 1, "synchronous": "normal"},
        )
    parsed = urlparse(url)
    return PostgresDatabase(
        unquote(parsed.path.lstrip("/")),
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=unquote(parsed.username) if parsed.username else None,
        password=unquote(parsed.password) if parsed.password else None,
        connect_timeout=connect_timeout,
        **KEEPALIVE,
        max_connections=pool_size,
        stale_timeout=300,
        timeout=pool_timeout,
    )


def connect_database(settings: Settings) -> Database:
    """Point the models at the configured database and return it."""
    database = make_database(settings.database_url, settings.db_pool_size,
                             connect_timeout=settings.db_connect_timeout_seconds,
                             pool_timeout=settings.db_pool_timeout_seconds)
    db.initialize(database)
    return database


def is_postgres() -> bool:
    """True when the models are bound to PostgreSQL."""
    return isinstance(db.obj, PooledPostgresqlDatabase)


def for_update(query):
    """Lock the selected rows where the database can (PostgreSQL); SQLite's IMMEDIATE
    transactions already serialise writers."""
    return query.for_update() if getattr(db.obj, "for_update", False) else query


def is_reachable() -> bool:
    """True when the database answers a trivial query."""
    try:
        db.execute_sql("SELECT 1").fetchone()
        return True
    except DatabaseUnavailable:  # logged once per outage (core.outages)
        return False
    except Exception as exc:  # any other driver error means "not reachable" too
        logger.warning("database unreachable: %s", exc)
        return False


def wait_for_database(stop: threading.Event) -> bool:
    """Block while the database cannot be reached, trying again after a pause that grows to a
    couple of seconds; True once it answers, False if `stop` is set first. Any other error is raised:
    only an outage is waited out."""
    pause, longest = WAIT_SECONDS
    while not stop.is_set():
        try:
            with connection_scope():
                db.execute_sql("SELECT 1")
            return True
        except DatabaseUnavailable:
            stop.wait(pause)
            pause = min(pause * 2, longest)
    return False


def through_outages(stop: threading.Event, step: Callable[..., T], *args, **kwargs) -> T:
    """`step(*args, **kwargs)`, taken again once the database is back each time it is away
    (wait_for_database), for work that must be done, not refused: a queue message in hand waits
    instead of being retried early or dropped. Raise DatabaseUnavailable if `stop` is set first."""
    while True:
        try:
            return step(*args, **kwargs)
        except DatabaseUnavailable:  # logged once per outage by core.outages
            if not wait_for_database(stop):
                raise


def enter_scope() -> bool:
    """Open this thread's connection if it is closed; True if this call opened it."""
    if not db.is_closed():
        return False
    db.connect(reuse_if_open=True)
    return True


def exit_scope(opened: bool, *, failed: bool = False, keep: bool = False) -> None:
    """End a unit of work. A pooled PostgreSQL connection goes back to the pool (an idle thread
    holds none) unless `keep` (a server's fixed threads keep theirs and save the pool's check on
    the next check-out); after a failure it goes back all the same, so a broken one is dropped.
    A SQLite connection stays with its thread: opening one costs more than most queries."""
    if db.is_closed() or db.in_transaction():
        return
    if failed or (opened and is_postgres() and not keep):
        db.close()


def begin_scope() -> bool:
    """Begin a unit of work whose connection is taken at its first query (not before: a request
    still reading its body holds none); True when the unit owns it, for exit_scope."""
    return db.is_closed()


def rest_connection() -> None:
    """Hand a pooled PostgreSQL connection back while this thread sleeps (a request waiting for
    a job); its next query takes one again."""
    if is_postgres() and not db.is_closed() and not db.in_transaction():
        db.close()


@contextmanager
def connection_scope(keep: bool = False) -> Iterator[None]:
    """A database connection for one unit of work: a handler call, a queue message, a request."""
    opened, failed = enter_scope(), False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        exit_scope(opened, failed=failed, keep=keep)
