"""`python -m core` as an operator runs it, on a fresh SQLite file and on PostgreSQL."""

import subprocess
import sys
from pathlib import Path

import pytest

from core import billing
from core.models import Transaction, User

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli(database_url, tmp_path):
    def run(*args, env=None, input=None):
        environ = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url,
                   "STORAGE_DIR": str(tmp_path / "s"), "SIGNUP_BONUS_CREDITS": "3", **(env or {})}
        return subprocess.run([sys.executable, "-m", "core", *args], cwd=tmp_path, env=environ,
                              capture_output=True, text=True, timeout=120, input=input)
    return run


def test_migrate_is_safe_to_run_twice(cli):
    # The fixture already migrated, so the command finds nothing to do.
    first, second = cli("migrate"), cli("migrate")
    assert first.returncode == second.returncode == 0
    assert "database is up to date" in second.stdout


def test_migrate_on_a_fresh_file_applies_every_migration(tmp_path):
    environ = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path}/new/fresh.db"}
    result = subprocess.run([sys.executable, "-m", "core", "migrate"], cwd=tmp_path, env=environ,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "0001_initial" in result.stdout


def test_seed_demo_then_check_ledger_pass(cli):
    seeded = cli("seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    assert cli("seed-demo").returncode == 0  # idempotent
    checked = cli("check-ledger")
    assert checked.returncode == 0, checked.stdout
    assert "ledger OK for 3 user(s)" in checked.stdout


def test_seed_demo_matches_the_seed(cli):
    cli("seed-demo")
    users = list(User.select().order_by(User.id))
    assert [u.id for u in users] == sorted(u.id for u in users) and len(users) == 3
    assert all(u.bonus_credits + u.paid_credits > 0 for u in users)
    first, _, third = users
    first_statuses = {t.status for t in Transaction.select().where(Transaction.user == first.id)}
    third_statuses = {t.status for t in Transaction.select().where(Transaction.user == third.id)}
    assert len(first_statuses) > 1 and len(third_statuses) > 1
    assert Transaction.select().where(Transaction.user == first.id).count() > 1
    assert {e.user_id for e in billing.ledger(third.id).items} == {third.id}


def test_check_ledger_fails_and_names_the_user_when_money_moved_without_an_entry(cli):
    cli("seed-demo")
    tampered = User.select().order_by(User.id).first()
    User.update(paid_credits=User.paid_credits + 100).where(User.id == tampered.id).execute()
    result = cli("check-ledger")
    assert result.returncode == 1
    assert f"user {tampered.id}: paid credits are" in result.stdout
    assert f"FAILED for 1 user(s): {tampered.id}" in result.stdout


def test_create_admin_makes_a_new_admin_then_promotes_an_existing_user_only_when_told(cli):
    created = cli("create-admin", "--email", "Boss@Example.com", env={"ADMIN_PASSWORD": "s3cret-enough"})
    assert created.returncode == 0, created.stderr
    boss = User.get(User.email == "boss@example.com")
    assert boss.is_admin and boss.password_hash
    User.create(email="pat@example.com")
    assert cli("create-admin", "--email", "pat@example.com").returncode == 1
    promoted = cli("create-admin", "--email", "pat@example.com", "--promote-existing", input="n3w-password-ok\n",
                   env={"ADMIN_PASSWORD": "n3w-password-ok"})
    assert promoted.returncode == 0, promoted.stderr
    assert User.get(User.email == "pat@example.com").is_admin


def test_create_admin_with_a_weak_password_fails_clearly(cli):
    result = cli("create-admin", "--email", "boss@example.com", env={"ADMIN_PASSWORD": "short"})
    assert result.returncode == 1
    assert "error: The password must be at least 8 characters long." in result.stderr
    assert User.select().count() == 0


def test_purge_refuses_a_bad_age(cli):
    result = cli("purge", "--older-than", "soon")
    assert result.returncode == 2
    assert "30d, 12h or 90m" in result.stderr
