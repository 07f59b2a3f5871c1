"""PostgreSQL out of reach (refused, cut, its backend ended, silent, its pool used up) is one error,
core.errors.DatabaseUnavailable, raised within seconds, never a hang; a statement's own fault is
not that error. An outage is one log line per process and its end one more, with how long it lasted.

The server is the real test PostgreSQL behind a relay the test takes down (tests.support.proxy)."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from peewee import OperationalError, ProgrammingError

from core import accounts, billing
from core.audit import check_ledger
from core.db import KEEPALIVE, connect_database, connection_scope, db, wait_for_database
from core.errors import DatabaseUnavailable
from core.models import User
from tests.support.proxy import closed_port, with_port


@pytest.fixture
def proxied(pg_settings, pg_proxy):
    """The models bound to the test PostgreSQL through pg_proxy (short timeouts, as a test wants)."""
    settings = replace(pg_settings, database_url=pg_proxy.url, db_connect_timeout_seconds=2,
                       db_pool_timeout_seconds=1)
    database = connect_database(settings)
    yield settings
    pg_proxy.restore()
    database.close_all()


def bind(settings, url: str, **overrides):
    """The models bound to `url` (a database nobody may reach), closed by the caller's test end."""
    return connect_database(replace(settings, database_url=url, **overrides))


def ann() -> int:
    return accounts.register_telegram_user(4242, signup_bonus=3)[0].id


def seconds(call) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def refused_in_time(call, limit: float) -> float:
    """How long `call` took to raise DatabaseUnavailable; fail when it took `limit` or more."""
    def expect_unavailable():
        with pytest.raises(DatabaseUnavailable), connection_scope():
            call()

    took = seconds(expect_unavailable)
    assert took < limit, f"DatabaseUnavailable came after {took:.1f} s"
    return took


def test_a_query_after_the_server_went_down_is_database_unavailable_at_once(proxied, pg_proxy):
    user_id = ann()  # this thread's connection is open, as a busy process's are
    pg_proxy.refuse()
    refused_in_time(lambda: accounts.get_user(user_id), 1.0)
    refused_in_time(lambda: accounts.get_user(user_id), 1.0)  # and a new connection too


def test_connections_probe_a_silent_server_instead_of_waiting_on_the_kernel(proxied):
    """A host that vanishes mid-statement sends no reset; only keepalives find it (the silence
    itself cannot be made here without a firewall). The connection libpq opened carries them."""
    with connection_scope():
        opened = db.connection().get_dsn_parameters()
    assert {key: opened.get(key) for key in KEEPALIVE} == {key: str(value) for key, value in KEEPALIVE.items()}


@pytest.mark.parametrize("wrong", ["database", "role"])
def test_a_wrong_database_or_role_is_said_at_once_not_waited_for_as_an_outage(pg_settings, wrong):
    parts = urlsplit(pg_settings.database_url)
    url = urlunsplit(parts._replace(path="/no_such_database") if wrong == "database"
                     else parts._replace(netloc=f"no_such_role@{parts.hostname}:{parts.port}"))
    database = bind(pg_settings, url)
    try:
        with pytest.raises(OperationalError, match="does not exist"):
            accounts.get_user(1)
        stop = threading.Event()
        threading.Timer(3, stop.set).start()  # waited for as an outage, it would end here, unraised
        with pytest.raises(OperationalError, match="does not exist"):
            wait_for_database(stop)
        assert not stop.is_set()
    finally:
        database.close_all()


def test_nothing_listening_on_the_port_is_database_unavailable_at_once(pg_settings):
    database = bind(pg_settings, with_port(pg_settings.database_url, closed_port()))
    try:
        refused_in_time(lambda: accounts.get_user(1), 1.0)
    finally:
        database.close_all()


def test_a_server_that_never_answers_holds_its_callers_one_connect_timeout_not_one_each(pg_settings):
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody ever answers
    database = bind(pg_settings, with_port(pg_settings.database_url, silent.getsockname()[1]),
                    db_connect_timeout_seconds=2)
    took: list[float] = []

    def ask():
        took.append(refused_in_time(lambda: accounts.get_user(1), 10.0))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    finally:
        silent.close()
        database.close_all()
    assert len(took) == 4
    assert max(took) < 3.5  # a connect timeout of 2 s once; four in a row would take 8 s


def test_a_pool_used_up_beyond_its_timeout_is_database_unavailable(pg_settings, pg_url, caplog):
    database = bind(pg_settings, pg_url, db_pool_size=1, db_pool_timeout_seconds=1)
    held, release = threading.Event(), threading.Event()

    def hold_the_only_connection():
        with connection_scope():
            db.execute_sql("SELECT 1")
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_only_connection)
    holder.start()
    try:
        assert held.wait(5)
        with caplog.at_level(logging.WARNING, logger="core.db"):
            took = refused_in_time(lambda: db.execute_sql("SELECT 1"), 3.0)
            refused_in_time(lambda: db.execute_sql("SELECT 1"), 3.0)
        assert took >= 0.9  # it waited for a connection to come free first
        said = [r.getMessage() for r in caplog.records if r.name == "core.db"]
        assert len(said) == 1 and "DB_POOL_SIZE" in said[0]  # an operator hears of it, once a minute at most
    finally:
        release.set()
        holder.join(10)
    with connection_scope():
        assert db.execute_sql("SELECT 1").fetchone() == (1,)
    database.close_all()


def test_a_wrong_statement_or_a_cancelled_one_is_not_database_unavailable(proxied):
    with pytest.raises(ProgrammingError), connection_scope():
        db.execute_sql("SELECT * FROM no_such_table")
    with pytest.raises(OperationalError) as raised, connection_scope(), db.atomic():
        db.execute_sql("SET LOCAL statement_timeout = 50")
        db.execute_sql("SELECT pg_sleep(2)")
    assert "statement timeout" in str(raised.value)
    with connection_scope():
        assert db.execute_sql("SELECT 1").fetchone() == (1,)


def test_a_connection_the_server_ends_is_database_unavailable_and_the_next_query_connects_again(proxied, pg_url):
    pid = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    admin = psycopg2.connect(pg_url)
    try:
        admin.autocommit = True
        admin.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        admin.close()
    with pytest.raises(DatabaseUnavailable):
        db.execute_sql("SELECT 1")
    assert db.execute_sql("SELECT 1").fetchone() == (1,)


def test_a_transaction_cut_midway_changes_nothing(proxied, pg_proxy):
    user_id = ann()
    with pytest.raises(DatabaseUnavailable), connection_scope(), db.atomic():
        User.update(bonus_credits=0).where(User.id == user_id).execute()
        pg_proxy.refuse()
        db.execute_sql("SELECT 1")
    pg_proxy.restore()
    assert wait_for_database(threading.Event())
    with connection_scope():
        assert billing.balance(user_id).total == 3
        assert check_ledger() == []


def test_waiting_for_the_database_tries_about_once_a_second_and_ends_when_told_to_stop(proxied, pg_proxy):
    pg_proxy.refuse()
    stop = threading.Event()
    threading.Timer(3.0, stop.set).start()
    assert wait_for_database(stop) is False
    assert 1 <= pg_proxy.refused <= 4  # it waited between tries: no spin


def test_waiting_for_the_database_ends_once_it_is_back(proxied, pg_proxy):
    pg_proxy.refuse()
    threading.Timer(1.0, pg_proxy.restore).start()
    assert seconds(lambda: wait_for_database(threading.Event())) < 5
    with connection_scope():
        assert db.execute_sql("SELECT 1").fetchone() == (1,)


def test_an_outage_is_one_log_line_and_its_end_one_more_with_its_duration(proxied, pg_proxy, caplog):
    user_id = ann()
    caplog.set_level(logging.INFO)
    pg_proxy.refuse()
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:  # callers keep asking through the outage, as requests do
        with pytest.raises(DatabaseUnavailable), connection_scope():
            accounts.get_user(user_id)
        time.sleep(0.1)
    pg_proxy.restore()
    assert wait_for_database(threading.Event())
    with connection_scope():
        accounts.get_user(user_id)
    messages = [record.getMessage() for record in caplog.records]
    began = [m for m in messages if "unreachable" in m]
    ended = [m for m in messages if "reachable again" in m]
    assert len(began) == 1 and len(ended) == 1, messages
    assert pg_proxy.url.split("@")[-1].split("/")[0] in began[0]  # which database, without a password
    lasted = float(re.search(r"after (\d+\.\d) s", ended[0]).group(1))
    assert 2.0 <= lasted < 10.0
