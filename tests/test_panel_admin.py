"""The admin pages as a signed-in admin's browser uses them: every page and form, thumbnails, sign-out, headers."""

from __future__ import annotations

import re

import pytest

from core import accounts, billing, demo, jobs
from core.models import Transaction
from tests.support.panel import form, html


@pytest.fixture
def admin(panel):
    """An admin signed in in the test client's cookie jar."""
    admin = panel.admin()
    panel.sign_in_browser(admin)
    return admin


# --- sign-out ---


def test_sign_out_clears_the_cookie(panel, admin):
    response = form(panel, "/logout")
    assert response.status_code == 302
    assert panel.client.get("/admin/").status_code == 302


# --- admin pages ---


def test_dashboard_shows_the_numbers(panel, admin):
    demo.seed_demo(panel.settings, panel.storage)
    page = html(panel.client.get("/admin/"))
    assert re.search(r'Users</div><div class="value">4<', page)
    assert re.search(r'Credits sold</div><div class="value">60<', page)
    assert "<svg" in page and page.count('class="bar"') == 14
    assert "Queue depth" in page


def test_users_page_searches(panel, admin):
    demo.seed_demo(panel.settings, panel.storage)
    page = html(panel.client.get("/admin/users?q=bob"))
    assert "@bob_demo" in page and "@alice_demo" not in page


def test_users_page_pages(panel, admin):
    for _ in range(26):
        panel.user()
    page = html(panel.client.get("/admin/users?page=2"))
    assert "Page 2 of 2" in page


def test_user_page_shows_ledger_and_job_thumbnails(panel, admin):
    user = panel.user()
    job = panel.job(user)
    page = html(panel.client.get(f"/admin/users/{user.id}"))
    assert "Welcome bonus" in page
    assert f"/admin/jobs/{job.id}/thumbnail/input" in page


def test_unknown_user_page_is_404(panel, admin):
    assert panel.client.get("/admin/users/9999").status_code == 404


def test_adjusting_credits_with_a_reason_adds_a_ledger_entry(panel, admin):
    user = panel.user(credits=3)
    response = form(panel, f"/admin/users/{user.id}/credits", {"amount": "5", "reason": "Loyalty", "bucket": "paid"},
                    follow_redirects=True)
    page = html(response)
    assert "Adjusted by +5 credits; the balance is now 8." in page
    assert "Loyalty" in page
    assert billing.balance(user.id).paid == 5


@pytest.mark.parametrize(("data", "message"), [
    ({"amount": "5", "reason": ""}, "Say why"),
    ({"amount": "five", "reason": "x"}, "whole number"),
    ({"amount": "-10", "reason": "x"}, "This needs 10 credit(s)."),
    ({"amount": "3000000000", "reason": "x"}, "at most a million"),
    ({"amount": "1" + "0" * 24, "reason": "x"}, "at most a million"),
])
def test_bad_adjustments_are_refused_with_a_message(panel, admin, data, message):
    user = panel.user(credits=3)
    page = html(form(panel, f"/admin/users/{user.id}/credits", data, follow_redirects=True))
    assert message in page
    assert billing.balance(user.id).total == 3


def test_adjustment_without_csrf_token_is_400_and_changes_nothing(panel, admin):
    user = panel.user(credits=3)
    panel.csrf()
    response = form(panel, f"/admin/users/{user.id}/credits", {"amount": "5", "reason": "x"}, token=False)
    assert response.status_code == 400
    assert billing.balance(user.id).total == 3
    assert not Transaction.select().where(Transaction.kind == "adjustment").exists()


@pytest.mark.parametrize(("action", "field", "value"), [("block", "is_blocked", True), ("promote", "is_admin", True)])
def test_block_and_promote_forms(panel, admin, action, field, value):
    user = panel.user()
    response = form(panel, f"/admin/users/{user.id}/{action}")
    assert response.status_code == 302
    assert getattr(accounts.get_user(user.id), field) is value


def test_unblock_form(panel, admin):
    user = accounts.block_user(panel.user().id)
    form(panel, f"/admin/users/{user.id}/unblock")
    assert accounts.get_user(user.id).is_blocked is False


def test_unknown_user_action_is_404(panel, admin):
    assert form(panel, f"/admin/users/{panel.user().id}/delete").status_code == 404


def test_jobs_page_filters_by_status_and_shows_errors(panel, admin):
    user = panel.user()
    failed, queued = panel.job(user), panel.job(user)
    jobs.start_job(failed.id)
    jobs.fail_job(failed.id, "The model ran out of memory")
    page = html(panel.client.get("/admin/jobs?status=failed"))
    assert "The model ran out of memory" in page and failed.id[:8] in page and queued.id[:8] not in page
    assert f"/admin/jobs/{failed.id}/retry" in page


def test_jobs_page_with_unknown_status_is_400(panel, admin):
    assert panel.client.get("/admin/jobs?status=nope").status_code == 400


def test_retry_form_requeues_a_failed_job(panel, admin):
    user = panel.user()
    job = panel.job(user)
    jobs.start_job(job.id)
    jobs.fail_job(job.id, "boom")
    response = form(panel, f"/admin/jobs/{job.id}/retry", {"back": "/admin/jobs?status=failed"})
    assert response.headers["Location"] == "/admin/jobs?status=failed"
    assert jobs.get_job(job.id).status == "queued"
    assert panel.queue.depth(panel.settings.input_queue) == 2  # the first submit and the retry


def test_retry_form_of_a_queued_job_says_why_not(panel, admin):
    job = panel.job(panel.user())
    page = html(form(panel, f"/admin/jobs/{job.id}/retry", follow_redirects=True))
    assert "Only a failed job can be retried." in page


def test_transactions_page_filters_by_kind(panel, admin):
    demo.seed_demo(panel.settings, panel.storage)
    page = html(panel.client.get("/admin/transactions?kind=topup"))
    assert "Demo top-up" in page and "Welcome bonus" not in page
    assert panel.client.get("/admin/transactions?kind=theft").status_code == 400


def test_thumbnails_are_small_pngs_by_job_id(panel, admin):
    job = panel.finish(panel.job(panel.user()).id)
    for which in ("input", "output"):
        response = panel.client.get(f"/admin/jobs/{job.id}/thumbnail/{which}")
        assert response.status_code == 200 and response.mimetype == "image/png"
        assert response.data.startswith(b"\x89PNG")
    assert panel.client.get(f"/admin/jobs/{job.id}/thumbnail/secrets").status_code == 404


def test_thumbnails_need_an_admin(panel):
    user = panel.user()
    job = panel.job(user)
    panel.sign_in_browser(user)
    assert panel.client.get(f"/admin/jobs/{job.id}/thumbnail/input").status_code == 403


def test_pages_send_security_headers(panel, admin):
    response = panel.client.get("/admin/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
