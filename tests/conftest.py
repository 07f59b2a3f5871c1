"""Shared fixtures: settings, a clean database (SQLite and PostgreSQL), storage, the queues, a user and the engine."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from typing import NoReturn
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest

from core import accounts, jobs, migrations
from core.db import connect_database, db, is_postgres
from core.models import ALL_MODELS
from core.queue import MemoryQueue
from core.queue.rabbit import RabbitQueue
from core.settings import Settings, load_settings
from core.storage import Store, open_storage
from tests.support.jobs import png
from tests.support.queues import Consumers, delete_topology
from tests.support.worker_process import WorkerProcess

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(message: str) -> NoReturn:
    """Skip for want of a service, tool or model; under CI=true its absence is a failure instead."""
    if IN_CI:
        pytest.fail(f"{message}, and CI=true makes that a failure, not a skip")
    pytest.skip(message)


def require_service(variable: str, what: str) -> str:
    """The service URL from the environment; skip without it, but fail under CI=true."""
    url = os.environ.get(variable)
    if not url:
        missing(f"{what} tests need {variable}")
    return url


def make_settings(tmp_path, **overrides) -> Settings:
    """Settings for a test: everything under tmp_path, no .env, overrides by setting name."""
    environ = {
        "APP_ENV": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path}/test.db",
        "STORAGE_DIR": str(tmp_path / "storage"),
        "MODEL_DIR": str(tmp_path / "models"),
        "JWT_SECRET": "test-secret-" + "x" * 40,
        "WORKER_THREADS": "1",
    }
    environ.update({key.upper(): str(value) for key, value in overrides.items()})
    return load_settings(environ, env_file=None)


@pytest.fixture(scope="session")
def pg_url():
    """A PostgreSQL database of this test session's own, dropped at the end."""
    base = require_service("TEST_DATABASE_URL", "PostgreSQL")
    name = f"cutout_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = urlunparse(urlparse(base)._replace(path="/" + name))
    yield url
    if getattr(db.obj, "close_all", None):
        db.obj.close_all()
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def pg_database(pg_url):
    """The session's PostgreSQL database, migrated once."""
    database = connect_database(make_settings_for_url(pg_url))
    migrations.migrate()
    return database


def make_settings_for_url(url: str) -> Settings:
    return load_settings({"APP_ENV": "test", "DATABASE_URL": url, "DB_POOL_SIZE": "60"}, env_file=None)


def _truncate(database) -> None:
    tables = ", ".join(model._meta.table_name for model in ALL_MODELS)
    database.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def reset_database() -> None:
    """Empty every table of the bound database (PostgreSQL's ledger refuses DELETE: TRUNCATE it)."""
    if is_postgres():
        _truncate(db.obj)
        return
    with db.atomic():
        for model in reversed(ALL_MODELS):
            model.delete().execute()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request):
    """Run a test once on SQLite and once on PostgreSQL."""
    return request.param


@pytest.fixture
def database_url(backend, tmp_path, request):
    """A clean, migrated database of the chosen back end, bound to the models."""
    if backend == "postgres":
        database = request.getfixturevalue("pg_database")
        db.initialize(database)
        _truncate(database)
        yield request.getfixturevalue("pg_url")
        return
    url = f"sqlite:///{tmp_path}/test.db"
    database = connect_database(make_settings_for_url(url))
    migrations.migrate()
    yield url
    database.close()


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    """Test settings pointing at the clean database; tests replace() what they need."""
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def pg_settings(tmp_path, pg_database, pg_url) -> Settings:
    """Settings on a clean PostgreSQL only (for locking and concurrency tests)."""
    db.initialize(pg_database)
    _truncate(pg_database)
    return make_settings(tmp_path, database_url=pg_url, db_pool_size=60)


@pytest.fixture
def pg_proxy(pg_url):
    """A relay in front of the test PostgreSQL that a test takes down and brings back
    (tests.support.proxy); `pg_proxy.url` is the session's database through it. Restored and
    closed when the test ends."""
    from tests.support.proxy import Proxy, with_port

    parsed = urlparse(pg_url)
    proxy = Proxy((parsed.hostname, parsed.port or 5432))
    proxy.url = with_port(pg_url, proxy.port)
    yield proxy
    proxy.restore()
    proxy.close()


@pytest.fixture
def sqlite_settings(tmp_path) -> Settings:
    """Settings on a fresh SQLite file only (for tests whose subject is not the database)."""
    settings = make_settings(tmp_path)
    database = connect_database(settings)
    migrations.migrate()
    yield settings
    database.close()


@pytest.fixture
def fast_settings(settings):
    """Quick retries, so the retry tests take milliseconds."""
    return replace(settings, retry_backoff_seconds=0.01)


@pytest.fixture
def storage(settings) -> Store:
    return open_storage(settings)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """The S3 protocol server: .ci/run's (TEST_S3_ENDPOINT_URL), or moto_server started here."""
    from tests.support.s3 import endpoint_from_environment, moto_server

    if endpoint := endpoint_from_environment():
        yield endpoint
        return
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture
def s3_store(s3_endpoint):
    """An S3 store on a new bucket of its own."""
    from tests.support.s3 import new_bucket

    return new_bucket(s3_endpoint)


@pytest.fixture
def memory_queue(settings) -> MemoryQueue:
    return MemoryQueue(settings)


@pytest.fixture
def consumers():
    """Queue consumers on threads (tests.support.queues), stopped and joined when the test ends."""
    running = Consumers()
    yield running
    running.join()


@pytest.fixture
def user(settings):
    """A Telegram user with 3 bonus credits."""
    user, _ = accounts.register_telegram_user(1001, signup_bonus=3)
    return user


@pytest.fixture
def submit(settings, storage, memory_queue):
    """submit(user_id, data=None, options=None, **kwargs) submits a job through core (a small PNG by default)."""
    def submit(user_id, data=None, options=None, **kwargs):
        data = png() if data is None else data
        return jobs.submit_job(user_id, data, options or {}, settings=settings, storage=storage,
                               queue=memory_queue, **kwargs)
    return submit


@pytest.fixture
def amqp_names():
    """Settings overrides for the test broker with queue names of this test's own; the queues and
    their dead-letter exchange are deleted afterwards (others use the same broker at once)."""
    url = require_service("TEST_AMQP_URL", "RabbitMQ")
    suffix = uuid.uuid4().hex[:12]
    names = {"amqp_url": url, "input_queue": f"test_input_{suffix}", "result_queue": f"test_result_{suffix}",
             "dead_letter_queue": f"test_dead_{suffix}"}
    yield names
    environ = {key.upper(): value for key, value in names.items()}
    delete_topology(load_settings(environ, env_file=None))


@pytest.fixture
def rabbit_settings(tmp_path, amqp_names) -> Settings:
    """Settings on the test broker with queues of this test's own, and no database."""
    return make_settings(tmp_path, **amqp_names)


@pytest.fixture
def rabbit_queue():
    """rabbit_queue(settings) is a RabbitQueue on those settings, closed when the test ends."""
    opened: list[RabbitQueue] = []

    def open_queue(settings: Settings) -> RabbitQueue:
        opened.append(RabbitQueue(settings))
        return opened[-1]

    yield open_queue
    for queue in opened:
        queue.close()


@pytest.fixture
def panel(sqlite_settings):
    """The panel and API app on a fresh SQLite database, with its test client (tests.support.panel)."""
    from tests.support.panel import Panel

    return Panel.build(sqlite_settings)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """A tiny ONNX model (red subject -> opaque) that loads through rembg's dis_custom session."""
    from tests.support.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture(scope="module")
def engine(tiny_model_path, tmp_path_factory):
    """One engine on the tiny model for each test module, as a worker process has one."""
    from worker.engine import load_engine

    return load_engine(make_settings(tmp_path_factory.mktemp("engine"), rembg_model_path=tiny_model_path))


@pytest.fixture
def model_runs(engine, monkeypatch):
    """How many times the model has run (the engine's, which the tests' workers share)."""
    runs = []
    real = engine.predict_mask
    monkeypatch.setattr(engine, "predict_mask", lambda image: runs.append(1) or real(image))
    return runs


@pytest.fixture
def spawn(settings, tiny_model_path, tmp_path):
    """spawn(**env) starts `python -m worker` on the test's `settings` (a module gives them the broker
    and PostgreSQL); any still running at the end are killed."""
    started: list[WorkerProcess] = []

    def spawn(**extra: str) -> WorkerProcess:
        worker = WorkerProcess(settings, tiny_model_path, tmp_path / f"worker-{len(started) + 1}.log", **extra)
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(10)
