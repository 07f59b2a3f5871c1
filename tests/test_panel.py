"""Signing in to the panel through the test client: passwords, CSRF, one-time links, the user's page."""

from __future__ import annotations

import pytest

from core import accounts, tokens
from tests.support.panel import Panel, form, html

PASSWORD = "s3cret-pass"


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


# --- the user's page ---


def test_users_page_shows_balance_upload_form_and_history(panel):
    user = panel.user(credits=3)
    job = panel.finish(panel.job(user).id)
    panel.sign_in_browser(user)
    page = html(panel.client.get("/"))
    assert 'id="upload-form"' in page and 'id="balance-total">2<' in page
    assert f"/api/v1/jobs/{job.id}/result?download=1" in page
    assert "/static/app.js" in page


def test_unknown_page_is_an_html_404(panel):
    response = panel.client.get("/nowhere")
    assert response.status_code == 404 and response.mimetype == "text/html"
