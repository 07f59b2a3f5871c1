"""When PostgreSQL cannot be reached: which driver errors say so, and an outage as one process
sees it, with the one log line an operator reads when it begins and the one when it ends.

core.db raises DatabaseUnavailable for these errors; every front end translates that one error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg2

from core.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

# SQLSTATEs of a connection that is gone or cannot be had: class 08 (connection exception),
# admin_shutdown, crash_shutdown, cannot_connect_now (starting up, shutting down, a standby being
# promoted), too_many_connections. Every other code is the statement's own business.
LOST_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
# What the server says, through libpq (no SQLSTATE), when it is up but refuses this configuration:
# a wrong database, role or password is no outage to wait out, but an error to say at once.
REFUSED_CONFIGURATION = ("does not exist", "authentication failed", "no pg_hba.conf entry", "no password supplied")
# While an outage lasts, one try to connect a second at most; every other caller is refused at once.
PROBE_SECONDS = 1.0


def connection_lost(exc: BaseException) -> bool:
    """True when a driver error (as psycopg2 raised it, or as peewee wrapped it: `orig`) means the
    server cannot be reached or has dropped the connection, not that the statement was at fault.
    libpq's own errors (refused, reset, timed out, closed) carry no SQLSTATE."""
    original = getattr(exc, "orig", exc)
    if not isinstance(original, psycopg2.OperationalError | psycopg2.InterfaceError):
        return False
    if original.pgcode is None:
        return not any(words in str(original) for words in REFUSED_CONFIGURATION)
    return original.pgcode.startswith(LOST_SQLSTATES)


def reason(exc: BaseException) -> str:
    """The driver's first line about a lost connection (libpq's words carry no password)."""
    original = getattr(exc, "orig", exc)
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


class Outage:
    """One database's outage as this process sees it: it begins when a connection cannot be
    opened and ends when one can. Meanwhile callers are refused at once but for one try a second,
    so requests answer in milliseconds instead of each waiting out a connect timeout in turn."""

    def __init__(self, where: str, clock: Callable[[], float] = time.monotonic):
        self.where, self.clock = where, clock
        self._lock = threading.Lock()
        self.since: float | None = None
        self._tried = 0.0

    def refuse_while_down(self) -> None:
        """Raise DatabaseUnavailable while the outage lasts, except for one try a PROBE_SECONDS."""
        if self.since is None:
            return
        with self._lock:
            now = self.clock()
            if self.since is not None and now - self._tried < PROBE_SECONDS:
                raise DatabaseUnavailable()
            self._tried = now

    def began(self, exc: BaseException) -> None:
        """A connection could not be opened: the outage begins (logged), or goes on (not logged)."""
        with self._lock:
            self._tried = self.clock()
            if self.since is not None:
                return
            self.since = self._tried
        logger.error("database at %s unreachable (%s); answering 'unavailable' until it is back",
                     self.where, reason(exc))

    def ended(self) -> None:
        """A connection was opened: an outage in progress is over (logged with how long it lasted)."""
        if self.since is None:
            return
        with self._lock:
            if self.since is None:
                return
            lasted, self.since = self.clock() - self.since, None
        logger.warning("database at %s reachable again after %.1f s", self.where, lasted)
