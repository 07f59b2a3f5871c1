"""REST API for admins and the OpenAPI document."""

from __future__ import annotations

import re

import pytest

from admin_panel.openapi import document
from core import accounts, billing, jobs
from core.models import Transaction
from tests.test_api import assert_error

ADMIN_ROUTES = [
    ("get", "/api/v1/admin/users"),
    ("get", "/api/v1/admin/users/{uid}"),
    ("post", "/api/v1/admin/users/{uid}/credits"),
    ("post", "/api/v1/admin/users/{uid}/block"),
    ("post", "/api/v1/admin/users/{uid}/unblock"),
    ("post", "/api/v1/admin/users/{uid}/promote"),
    ("get", "/api/v1/admin/jobs"),
    ("post", "/api/v1/admin/jobs/00000000-0000-0000-0000-000000000000/retry"),
    ("get", "/api/v1/admin/stats"),
    ("post", "/api/v1/admin/users/{uid}/demote"),
    ("get", "/api/v1/admin/audit"),
    ("get", "/api/v1/admin/payments/stx-1"),
    ("post", "/api/v1/admin/payments/stx-1/refund"),
]


@pytest.fixture
def admin(panel):
    return panel.admin()


def call(panel, method, path, user=None, **kwargs):
    headers = panel.auth(user) if user else {}
    return getattr(panel.client, method)(path, headers=headers, **kwargs)


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_refuse_a_user_token_with_403(panel, method, path):
    user = panel.user()
    response = call(panel, method, path.format(uid=user.id), user, json={"amount": 5, "reason": "x"})
    assert_error(response, 403, "forbidden")
    assert accounts.get_user(user.id) == user  # nothing changed


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_refuse_no_token_with_401(panel, method, path):
    assert_error(call(panel, method, path.format(uid=1)), 401)


def test_a_user_token_minted_before_promotion_stays_a_user_token(panel):
    user = panel.user()
    headers = panel.auth(user)
    accounts.promote_to_admin(user.id)
    assert_error(panel.client.get("/api/v1/admin/stats", headers=headers), 403)


def test_list_users_searches_and_pages(panel, admin):
    panel.user(name="alice_x")
    panel.user(name="bob_x")
    body = call(panel, "get", "/api/v1/admin/users?q=ALICE", admin).get_json()
    assert [u["username"] for u in body["items"]] == ["alice_x"]
    body = call(panel, "get", "/api/v1/admin/users?page=2", admin).get_json()
    assert body["items"] == [] and body["total"] == 3


def test_one_user_with_ledger_and_jobs(panel, admin):
    user = panel.user()
    job = panel.job(user)
    body = call(panel, "get", f"/api/v1/admin/users/{user.id}", admin).get_json()
    assert body["id"] == user.id
    assert [j["id"] for j in body["jobs"]] == [job.id]
    assert {e["kind"] for e in body["transactions"]} == {"signup_bonus", "charge"}


@pytest.mark.parametrize("uid", ["999999", "2147483648", "0", "abc"])
def test_unknown_user_is_404(panel, admin, uid):
    assert_error(call(panel, "get", f"/api/v1/admin/users/{uid}", admin), 404)


def test_adjust_credits_with_a_reason_writes_the_ledger(panel, admin):
    user = panel.user(credits=3)
    response = call(panel, "post", f"/api/v1/admin/users/{user.id}/credits", admin,
                    json={"amount": 7, "reason": "Goodwill after an outage"})
    assert response.status_code == 200
    assert response.get_json()["balance"] == {"bonus": 10, "paid": 0, "total": 10}
    entry = Transaction.for_user(user.id).first()
    assert (entry.kind, entry.amount, entry.note) == ("adjustment", 7, "Goodwill after an outage")


def test_adjust_credits_can_take_and_use_the_paid_bucket(panel, admin):
    user = panel.user(credits=3)
    call(panel, "post", f"/api/v1/admin/users/{user.id}/credits", admin,
         json={"amount": 4, "reason": "refund by hand", "bucket": "paid"})
    response = call(panel, "post", f"/api/v1/admin/users/{user.id}/credits", admin,
                    json={"amount": -5, "reason": "correction"})
    assert response.get_json()["balance"] == {"bonus": 0, "paid": 2, "total": 2}


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"amount": 5}, 400, "bad_request"),
    ({"amount": 5, "reason": "  "}, 400, "reason_required"),
    ({"amount": 0, "reason": "x"}, 400, "invalid_amount"),
    ({"amount": "5", "reason": "x"}, 400, "invalid_amount"),
    ({"amount": True, "reason": "x"}, 400, "invalid_amount"),
    ({"amount": 1.5, "reason": "x"}, 400, "invalid_amount"),
    ({"amount": 5, "reason": "x", "bucket": "gold"}, 400, "invalid_amount"),
    ({"amount": 10**12, "reason": "x"}, 400, "invalid_amount"),
    ({"amount": -50, "reason": "x"}, 402, "insufficient_credits"),
])
def test_adjust_credits_refuses_bad_input(panel, admin, body, status, code):
    user = panel.user(credits=3)
    assert_error(call(panel, "post", f"/api/v1/admin/users/{user.id}/credits", admin, json=body), status, code)
    assert billing.balance(user.id).total == 3


def test_adjust_credits_of_unknown_user_is_404(panel, admin):
    response = call(panel, "post", "/api/v1/admin/users/4242/credits", admin, json={"amount": 1, "reason": "x"})
    assert_error(response, 404, "user_not_found")


def test_block_and_unblock(panel, admin):
    user = panel.user()
    headers = panel.auth(user)
    body = call(panel, "post", f"/api/v1/admin/users/{user.id}/block", admin).get_json()
    assert body["is_blocked"] is True
    assert panel.client.get("/api/v1/me", headers=headers).status_code == 401
    body = call(panel, "post", f"/api/v1/admin/users/{user.id}/unblock", admin).get_json()
    assert body["is_blocked"] is False
    assert panel.client.get("/api/v1/me", headers=headers).status_code == 200


def test_promote_makes_an_admin(panel, admin):
    user = panel.user()
    assert call(panel, "post", f"/api/v1/admin/users/{user.id}/promote", admin).get_json()["role"] == "admin"
    assert call(panel, "get", "/api/v1/admin/stats", user).status_code == 200


def test_jobs_filtered_by_status(panel, admin):
    user = panel.user()
    failed, queued = panel.job(user), panel.job(user)
    jobs.start_job(failed.id)
    jobs.fail_job(failed.id, "model exploded")
    body = call(panel, "get", "/api/v1/admin/jobs?status=failed", admin).get_json()
    assert [(j["id"], j["error"]) for j in body["items"]] == [(failed.id, "model exploded")]
    assert call(panel, "get", "/api/v1/admin/jobs", admin).get_json()["total"] == 2
    assert queued.status == "queued"


def test_jobs_with_an_unknown_status_is_400(panel, admin):
    assert_error(call(panel, "get", "/api/v1/admin/jobs?status=lost", admin), 400)


def test_retry_charges_again_and_publishes(panel, admin):
    user = panel.user(credits=3)
    job = panel.job(user)
    depth = panel.queue.depth(panel.settings.input_queue)
    jobs.start_job(job.id)
    jobs.fail_job(job.id, "boom")
    assert billing.balance(user.id).total == 3
    body = call(panel, "post", f"/api/v1/admin/jobs/{job.id}/retry", admin).get_json()
    assert (body["id"], body["status"]) == (job.id, "queued")
    assert billing.balance(user.id).total == 2
    assert panel.queue.depth(panel.settings.input_queue) == depth + 1


def test_retry_of_a_job_that_did_not_fail_is_409(panel, admin):
    job = panel.job(panel.user())
    assert_error(call(panel, "post", f"/api/v1/admin/jobs/{job.id}/retry", admin), 409, "invalid_job_state")


def test_retry_without_credits_is_402(panel, admin):
    user = panel.user(credits=1)
    job = panel.job(user)
    jobs.start_job(job.id)
    jobs.fail_job(job.id, "boom")
    billing.adjust_credits(user.id, -1, "spent elsewhere")
    assert_error(call(panel, "post", f"/api/v1/admin/jobs/{job.id}/retry", admin), 402)
    assert jobs.get_job(job.id).status == "failed"


def test_stats(panel, admin):
    user = panel.user()
    billing.top_up(user.id, 50, payment_id="p-1")
    done = panel.job(user)
    panel.finish(done.id)
    body = call(panel, "get", "/api/v1/admin/stats", admin).get_json()
    assert body["users"] == 2
    assert body["credits_sold"] == 50
    assert body["jobs_today"] == {"done": 1}
    assert body["failure_rate"] == 0.0
    assert body["queue_depth"] == 1
    assert body["jobs_per_day"][-1]["count"] == 1


# --- OpenAPI ---

def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule)


def test_every_api_route_is_in_the_openapi_document(panel):
    paths = panel.client.get("/api/v1/openapi.json").get_json()["paths"]
    routes = [r for r in panel.app.url_map.iter_rules()
              if r.rule.startswith("/api/v1") or r.rule in ("/healthz", "/metrics")]
    assert len(routes) >= 20
    missing = [(r.rule, m) for r in routes for m in r.methods - {"HEAD", "OPTIONS"}
               if m.lower() not in paths.get(_openapi_path(r.rule), {})]
    assert missing == []


def test_openapi_documents_no_route_that_does_not_exist(panel):
    rules = {_openapi_path(r.rule) for r in panel.app.url_map.iter_rules()}
    assert set(document()["paths"]) <= rules

