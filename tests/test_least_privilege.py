"""Least privilege in PostgreSQL: the ledger and the audit log are append-only for every role, the
owner included, and the services' role reads and writes rows but changes no schema."""

from __future__ import annotations

import uuid
from urllib.parse import urlparse, urlunparse

import pytest
from peewee import IntegrityError, ProgrammingError

from core import accounts, billing, jobs, migrations, roles
from core.db import db, make_database
from core.enums import AdminActionKind
from core.models import AdminAction, Transaction
from core.storage import DirectoryStore
from tests.support.images import encode, subject_image


@pytest.fixture
def charged(pg_settings, tmp_path):
    """A user with a top-up, and a job whose charge is pending."""
    user, _ = accounts.register_telegram_user(9001, signup_bonus=2)
    billing.top_up(user.id, 10, payment_id="pay-least-1")
    job = jobs.create_job(user.id, encode(subject_image()), {}, settings=pg_settings,
                          storage=DirectoryStore(tmp_path / "s"))
    charge = Transaction.get(Transaction.job == job.id)
    return user, job, charge


def refused(statement: str, *params) -> None:
    with pytest.raises(IntegrityError, match="append-only"), db.atomic():
        db.execute_sql(statement, params)


@pytest.mark.parametrize("change", [
    "amount = amount - 100", "user_id = user_id", "balance_after = 999", "kind = 'topup'",
    "note = 'edited'", "payment_id = 'forged'", "created_at = created_at - interval '1 day'",
])
def test_the_owner_cannot_rewrite_a_ledger_row(charged, change):
    _, _, charge = charged
    refused(f"UPDATE transactions SET {change} WHERE id = %s", charge.id)
    topup = Transaction.get(Transaction.kind == "topup")
    refused(f"UPDATE transactions SET {change} WHERE id = %s", topup.id)


def test_the_owner_cannot_delete_a_ledger_row(charged):
    refused("DELETE FROM transactions")
    assert Transaction.select().count() == 3  # bonus, top-up, charge


def test_a_pending_charge_becomes_final_once_and_only_that(charged):
    _, job, charge = charged
    refused("UPDATE transactions SET status = 'completed', amount = 0 WHERE id = %s", charge.id)
    jobs.start_job(job.id)
    assert jobs.fail_job(job.id, "broken")  # pending -> refunded, and the refund is a new row
    assert Transaction.get_by_id(charge.id).status == "refunded"
    refused("UPDATE transactions SET status = 'completed' WHERE id = %s", charge.id)
    refused("UPDATE transactions SET status = 'pending' WHERE id = %s", charge.id)


def test_the_audit_log_cannot_be_changed_or_deleted(charged):
    user, _, _ = charged
    AdminAction.create(admin=None, action=AdminActionKind.BLOCK, user=user.id, reason="fraud")
    refused("UPDATE admin_actions SET reason = 'nothing happened'")
    refused("DELETE FROM admin_actions")
    assert AdminAction.get().reason == "fraud"


@pytest.fixture
def app_role(pg_database, pg_url):
    """The services' role on the session's database (as `python -m core migrate` leaves it), and a
    connection as that role bound to the models for the test."""
    owner = db.obj
    name = f"cutout_app_{uuid.uuid4().hex[:8]}"
    assert roles.ensure_app_role(name)
    assert roles.ensure_app_role(name)  # safe to repeat, as every migrate does
    as_app = make_database(urlunparse(urlparse(pg_url)._replace(netloc=f"{name}@{urlparse(pg_url).hostname}:"
                                                                       f"{urlparse(pg_url).port}")), 4)
    db.initialize(as_app)
    yield name
    as_app.close_all()
    db.initialize(owner)
    with db.atomic():
        db.execute_sql(f'DROP OWNED BY "{name}"')
        db.execute_sql(f'DROP ROLE "{name}"')


def test_the_application_role_runs_the_product(pg_settings, app_role, tmp_path):
    assert db.execute_sql("SELECT current_user").fetchone()[0] == app_role
    assert migrations.pending() == []  # the start-up schema check works as this role
    user, _ = accounts.register_telegram_user(9101, signup_bonus=3)
    billing.top_up(user.id, 5, payment_id=f"pay-{app_role}")
    job = jobs.create_job(user.id, encode(subject_image()), {}, settings=pg_settings,
                          storage=DirectoryStore(tmp_path / "s"))
    jobs.start_job(job.id)
    assert jobs.fail_job(job.id, "broken")
    assert billing.balance(user.id).total == 8
    AdminAction.create(admin=None, action=AdminActionKind.UNBLOCK, user=user.id)


@pytest.mark.parametrize("statement", [
    "CREATE TABLE sneaky (id int)",
    "ALTER TABLE transactions DISABLE TRIGGER ledger_append_only",
    "DROP TABLE admin_actions",
    "TRUNCATE transactions",
    "DELETE FROM transactions",
    "DELETE FROM admin_actions",
    "UPDATE admin_actions SET reason = 'x'",
    "CREATE OR REPLACE FUNCTION cutout_ledger_guard() RETURNS trigger AS $$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql",
])
def test_the_application_role_changes_no_schema_and_no_history(app_role, statement):
    with pytest.raises(ProgrammingError, match="permission denied|must be owner"), db.atomic():
        db.execute_sql(statement)
