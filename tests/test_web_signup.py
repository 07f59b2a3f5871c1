"""Signing up on the web page: the API's rules, limits and bonus; errors next to their field;
then signed in (the HttpOnly cookie) and on the user's page."""

from __future__ import annotations

from dataclasses import replace

from core import accounts, billing
from tests.support.panel import Panel, form, html


def test_the_sign_in_page_links_to_sign_up(panel):
    assert 'href="/signup"' in html(panel.client.get("/login"))


def test_sign_up_creates_the_account_with_the_bonus_and_signs_in(panel):
    response = form(panel, "/signup", {"email": "New@Example.com", "password": "a long secret 7"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "cutout_token=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    user = accounts.authenticate("new@example.com", "a long secret 7")
    assert billing.balance(user.id).total == panel.settings.signup_bonus_credits
    assert panel.client.get("/").status_code == 200  # the cookie signs the browser in


def test_a_refusal_is_shown_next_to_its_field_and_keeps_the_email(panel):
    form(panel, "/signup", {"email": "taken@example.com", "password": "a long secret 7"})
    panel.client.delete_cookie("cutout_token")
    taken = form(panel, "/signup", {"email": "taken@example.com", "password": "a long secret 7"})
    page = html(taken)
    assert taken.status_code == 400 and 'id="email-error"' in page and 'value="taken@example.com"' in page
    weak = html(form(panel, "/signup", {"email": "other@example.com", "password": "short"}))
    assert 'id="password-error"' in weak and 'aria-invalid="true"' in weak and 'id="email-error"' not in weak
    bad = html(form(panel, "/signup", {"email": "not an email", "password": "a long secret 7"}))
    assert 'id="email-error"' in bad


def test_sign_up_without_the_csrf_token_is_refused(panel):
    refused = form(panel, "/signup", {"email": "x@example.com", "password": "a long secret 7"}, token=False)
    assert refused.status_code == 400
    assert not accounts.email_registered("x@example.com")


def test_sign_up_shares_the_apis_per_address_limits(sqlite_settings):
    panel = Panel.build(replace(sqlite_settings, signup_bonus_per_address_per_day=1))
    form(panel, "/signup", {"email": "first@example.com", "password": "a long secret 7"})
    panel.client.delete_cookie("cutout_token")
    form(panel, "/signup", {"email": "second@example.com", "password": "a long secret 7"})
    first, second = (accounts.authenticate(f"{n}@example.com", "a long secret 7") for n in ("first", "second"))
    assert billing.balance(first.id).total == 3 and billing.balance(second.id).total == 0
