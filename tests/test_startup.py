"""One start-up for every process: make run and `core migrate` apply migrations; the bot, the
worker, the panel and the other core commands refuse a database with pending ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import migrations
from core.bootstrap import APPLY, start
from tests.conftest import make_settings, require_service

ROOT = Path(__file__).resolve().parent.parent


def run(command: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    """A process on a fresh (never migrated) SQLite file, no .env, settings from the environment only."""
    environ = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "AMQP_URL")}
    environ.update({"DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db", "STORAGE_DIR": str(tmp_path / "storage"),
                    "MODEL_DIR": str(tmp_path / "models"), "APP_ENV": "test", "JWT_SECRET": "j" * 40, **extra})
    return subprocess.run(command, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [
    ["-m", "worker"],
    ["-m", "admin_panel"],
    ["-m", "bot"],
    ["-m", "core", "check-ledger"],
    ["-m", "core", "purge"],
], ids=["worker", "admin_panel", "bot", "check-ledger", "purge"])
def test_a_process_refuses_a_database_with_pending_migrations(tmp_path, command):
    done = run([sys.executable, *command], tmp_path, TELEGRAM_BOT_TOKEN="123:fake", PYTHONPATH=str(ROOT))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the database needs migrations" in done.stderr and "python -m core migrate" in done.stderr


def test_core_migrate_applies_them_and_then_the_others_start(tmp_path):
    done = run([sys.executable, "-m", "core", "migrate"], tmp_path, PYTHONPATH=str(ROOT))
    assert done.returncode == 0 and "applied" in done.stdout, done.stderr
    checked = run([sys.executable, "-m", "core", "check-ledger"], tmp_path, PYTHONPATH=str(ROOT))
    assert checked.returncode == 0 and "ledger OK" in checked.stdout, checked.stderr


def test_start_applies_pending_migrations_when_asked(tmp_path):
    start(make_settings(tmp_path), schema=APPLY)
    assert migrations.pending() == []


@pytest.mark.parametrize("command", [["-m", "worker"], ["-m", "core", "check-ledger"]], ids=["worker", "check-ledger"])
def test_a_database_that_refuses_the_configuration_is_one_line_and_status_2_not_a_wait(tmp_path, command):
    url = require_service("TEST_DATABASE_URL", "PostgreSQL").rsplit("/", 1)[0] + "/no_such_database"
    done = run([sys.executable, *command], tmp_path, PYTHONPATH=str(ROOT), DATABASE_URL=url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'the database refuses this configuration' in done.stderr and "no_such_database" in done.stderr
