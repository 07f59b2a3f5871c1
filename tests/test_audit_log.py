"""The audit log of admin actions: who, what, on whom, when and why, written with the change itself,
shown in the panel and the admin API, filterable; demote exists and keeps the last admin."""

from __future__ import annotations

import pytest

from core import accounts, jobs
from core.models import AdminAction
from tests.support.panel import Panel, form, html
from tests.test_api import assert_error
from tests.test_cli import cli  # noqa: F401 - the fixture


@pytest.fixture
def panel(settings):
    """The panel on SQLite, then on PostgreSQL."""
    return Panel.build(settings)


@pytest.fixture
def boss(panel):
    return panel.user(admin=True, name="boss")


def post(panel, who, path, body=None):
    return panel.client.post(path, headers=panel.auth(who), json=body)


def log(panel, who, query: str = "") -> list[dict]:
    response = panel.client.get(f"/api/v1/admin/audit{query}", headers=panel.auth(who))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_every_admin_action_is_logged_with_who_what_whom_and_why(panel, boss):
    ann = panel.user(credits=0, name="ann")
    uid = ann.id
    assert post(panel, boss, f"/api/v1/admin/users/{uid}/credits",
                {"amount": 10, "reason": "goodwill for a slow week", "bucket": "bonus"}).status_code == 200
    assert post(panel, boss, f"/api/v1/admin/users/{uid}/block", {"reason": "spam from here"}).status_code == 200
    assert post(panel, boss, f"/api/v1/admin/users/{uid}/unblock").status_code == 200
    assert post(panel, boss, f"/api/v1/admin/users/{uid}/promote", {"reason": "new support hire"}).status_code == 200
    assert post(panel, boss, f"/api/v1/admin/users/{uid}/demote", {"reason": "left the team"}).status_code == 200
    job = panel.job(ann)
    jobs.start_job(job.id)
    jobs.fail_job(job.id, "broken")
    assert post(panel, boss, f"/api/v1/admin/jobs/{job.id}/retry").status_code == 200
    entries = log(panel, boss)
    assert [(e["action"], e["admin_id"], e["user_id"]) for e in entries] == [
        ("retry_job", boss.id, uid), ("demote", boss.id, uid), ("promote", boss.id, uid),
        ("unblock", boss.id, uid), ("block", boss.id, uid), ("adjust_credits", boss.id, uid)]
    by_action = {e["action"]: e for e in entries}
    assert (by_action["adjust_credits"]["detail"], by_action["adjust_credits"]["reason"]) == (
        "+10 bonus", "goodwill for a slow week")
    assert by_action["block"]["reason"] == "spam from here" and by_action["unblock"]["reason"] is None
    assert by_action["retry_job"]["subject"] == job.id
    assert by_action["demote"]["admin"] == "@boss" and by_action["demote"]["user"] == "@ann"
    assert all(e["created_at"].endswith("Z") for e in entries)


def test_a_refused_action_leaves_no_entry(panel, boss):
    ann = panel.user(credits=0)
    assert_error(post(panel, boss, f"/api/v1/admin/users/{ann.id}/credits", {"amount": -5, "reason": "oops"}),
                 402, "insufficient_credits")
    assert_error(post(panel, boss, "/api/v1/admin/users/999999/block"), 404, "user_not_found")
    assert_error(post(panel, boss, f"/api/v1/admin/users/{ann.id}/block", {"reason": 7}), 400, "bad_request")
    assert AdminAction.select().count() == 0


def test_the_log_filters_by_action_admin_and_user(panel, boss):
    other_admin = panel.user(admin=True, name="deputy")
    ann, bob = panel.user(name="ann"), panel.user(name="bob")
    post(panel, boss, f"/api/v1/admin/users/{ann.id}/block")
    post(panel, other_admin, f"/api/v1/admin/users/{bob.id}/block")
    post(panel, boss, f"/api/v1/admin/users/{bob.id}/promote")
    assert [e["user_id"] for e in log(panel, boss, "?action=block")] == [bob.id, ann.id]
    assert [e["action"] for e in log(panel, boss, f"?admin_id={boss.id}")] == ["promote", "block"]
    assert [e["admin_id"] for e in log(panel, boss, f"?user_id={bob.id}")] == [boss.id, other_admin.id]
    assert log(panel, boss, f"?action=promote&admin_id={other_admin.id}") == []
    assert_error(panel.client.get("/api/v1/admin/audit?action=delete_everything", headers=panel.auth(boss)),
                 400, "bad_request")
    assert_error(panel.client.get("/api/v1/admin/audit", headers=panel.auth(panel.user())), 403, "forbidden")


def test_a_demoted_admin_loses_the_admin_api_at_once_and_the_last_admin_stays(panel, boss):
    deputy = panel.user(admin=True, name="deputy")
    deputy_token = panel.auth(deputy)
    assert post(panel, boss, f"/api/v1/admin/users/{deputy.id}/demote").get_json()["role"] == "user"
    assert_error(panel.client.get("/api/v1/admin/users", headers=deputy_token), 403, "forbidden")
    assert_error(post(panel, boss, f"/api/v1/admin/users/{boss.id}/demote"), 409, "last_admin")
    assert accounts.get_user(boss.id).is_admin
    assert [e["action"] for e in log(panel, boss)] == ["demote"]


def test_the_command_line_is_logged_as_the_actor(cli, panel):  # noqa: F811
    assert cli("create-admin", "--email", "boss@example.com", env={"ADMIN_PASSWORD": "long-enough-1"}).returncode == 0
    entry = AdminAction.get()
    assert (entry.action, entry.admin_id, entry.detail) == ("create_admin", None, "a new account")
    boss = accounts.get_user(entry.user_id)
    assert log(panel, boss)[0]["admin"] == "command line"


def test_the_panel_shows_the_log_and_records_its_own_actions(panel, boss):
    ann = panel.user(name="ann")
    panel.sign_in_browser(boss)
    page = html(panel.client.get(f"/admin/users/{ann.id}"))
    assert f"/admin/users/{ann.id}/promote" in page and 'name="reason"' in page
    form(panel, f"/admin/users/{ann.id}/block", {"reason": "chargeback fraud"})
    form(panel, f"/admin/users/{ann.id}/promote")
    assert f"/admin/users/{ann.id}/demote" in html(panel.client.get(f"/admin/users/{ann.id}"))
    audit = html(panel.client.get("/admin/audit"))
    table = audit.split('id="audit"', 1)[1]
    assert table.index("promote") < table.index("block") and "chargeback fraud" in table and "@boss" in table
    blocks = html(panel.client.get("/admin/audit?action=block")).split('id="audit"', 1)[1]
    assert "chargeback fraud" in blocks and ">promote<" not in blocks
    assert panel.client.get("/admin/audit?action=nope").status_code == 400
    assert panel.client.get("/admin/audit?user_id=x").status_code == 400
