"""Admin pages and the user's page through the test client: sign-in, CSRF, every page and form."""

from __future__ import annotations

import re

import pytest

from core import accounts, billing, demo, jobs, tokens
from core.models import Transaction
from tests.support.panel import Panel

PASSWORD = "s3cret-pass"


@pytest.fixture
def admin(panel):
    """An admin signed in in the test client's cookie jar."""
    admin = panel.admin()
    panel.sign_in_browser(admin)
    return admin


def form(panel, path, data=None, token=True, **kwargs):
    data = dict(data or {})
    if token:
        data["csrf_token"] = panel.csrf()
    return panel.client.post(path, data=data, **kwargs)


def html(response) -> str:
    return response.get_data(as_text=True)


# --- sign-in ---

def test_admin_pages_redirect_to_sign_in(panel):
    response = panel.client.get("/admin/users?q=x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/users?q%3Dx"


def test_admin_sign_in_address_leads_to_the_sign_in_page(panel):
    response = panel.client.get("/admin/login")
    assert response.headers["Location"] == "/login?next=/admin/"


def test_user_page_redirects_to_sign_in(panel):
    assert panel.client.get("/").headers["Location"].startswith("/login")


def test_sign_in_sets_an_httponly_strict_cookie_and_goes_to_the_dashboard(panel):
    user = accounts.register_email_user("boss@example.com", PASSWORD)
    accounts.promote_to_admin(user.id)
    response = form(panel, "/login", {"email": "boss@example.com", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("cutout_token="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert panel.client.get("/admin/").status_code == 200


def test_user_sign_in_goes_to_the_users_page_and_follows_a_local_next(panel):
    accounts.register_email_user("u@example.com", PASSWORD)
    response = form(panel, "/login?next=/?page=1", {"email": "u@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/?page=1"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_sign_in_ignores_a_foreign_next(panel, target):
    accounts.register_email_user("u@example.com", PASSWORD)
    response = form(panel, f"/login?next={target}", {"email": "u@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_wrong_password_shows_the_form_again(panel):
    accounts.register_email_user("u@example.com", PASSWORD)
    response = form(panel, "/login", {"email": "u@example.com", "password": "nope-nope-1"})
    assert response.status_code == 401
    assert "Wrong email or password" in html(response)
    assert "cutout_token=" not in "".join(response.headers.getlist("Set-Cookie"))


def test_sign_in_form_without_csrf_token_is_400(panel):
    accounts.register_email_user("u@example.com", PASSWORD)
    panel.csrf()  # the browser has the cookie but the form lacks the field
    response = form(panel, "/login", {"email": "u@example.com", "password": PASSWORD}, token=False)
    assert response.status_code == 400
    assert "cutout_token=" not in "".join(response.headers.getlist("Set-Cookie"))


def test_csrf_token_from_another_browser_is_400(panel, sqlite_settings):
    accounts.register_email_user("u@example.com", PASSWORD)
    stolen = Panel.build(sqlite_settings).csrf()
    panel.csrf()
    response = panel.client.post("/login", data={"email": "u@example.com", "password": PASSWORD,
                                                 "csrf_token": stolen})
    assert response.status_code == 400


def test_sign_out_clears_the_cookie(panel, admin):
    response = form(panel, "/logout")
    assert response.status_code == 302
    assert panel.client.get("/admin/").status_code == 302


def test_signed_in_user_gets_403_on_admin_pages(panel):
    panel.sign_in_browser(panel.user())
    assert panel.client.get("/admin/").status_code == 403


def test_stale_cookie_counts_as_signed_out(panel):
    user = panel.user()
    panel.sign_in_browser(user)
    accounts.revoke_tokens(user.id)
    assert panel.client.get("/").status_code == 302


# --- one-time link from the bot ---

def test_login_link_page_posts_the_token_once(panel):
    user = panel.user()
    link = tokens.issue_login_link(user.id, panel.settings)
    page = panel.client.get("/login/link")
    assert page.status_code == 200 and 'id="link-form"' in html(page)
    token = link.rsplit("#", 1)[1]
    response = form(panel, "/login/link", {"token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert panel.client.get("/").status_code == 200
    again = form(panel, "/login/link", {"token": token})
    assert again.status_code == 401 and "already been used" in html(again)


def test_login_link_without_csrf_is_400(panel):
    token = tokens.issue_login_link(panel.user().id, panel.settings).rsplit("#", 1)[1]
    panel.csrf()
    assert form(panel, "/login/link", {"token": token}, token=False).status_code == 400


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


# --- the user's page ---

def test_users_page_shows_balance_upload_form_and_history(panel):
    user = panel.user(credits=3)
    job = panel.finish(panel.job(user).id)
    panel.sign_in_browser(user)
    page = html(panel.client.get("/"))
    assert 'id="upload-form"' in page and 'id="balance-total">2<' in page
    assert f"/api/v1/jobs/{job.id}/result?download=1" in page
    assert "/static/app.js" in page


def test_pages_send_security_headers(panel, admin):
    response = panel.client.get("/admin/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_page_is_an_html_404(panel):
    response = panel.client.get("/nowhere")
    assert response.status_code == 404 and response.mimetype == "text/html"
