"""REST API: registration, tokens, profile, ledger, token attacks and the error shape."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from core import accounts, billing, tokens

PASSWORD = "s3cret-pass"


@pytest.fixture
def member(panel):
    """A user with email and password."""
    return accounts.register_email_user("member@example.com", PASSWORD, signup_bonus=3)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def assert_error(response, status: int, code: str | None = None) -> dict:
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) >= {"error", "message"} and isinstance(body["message"], str) and body["message"]
    if code:
        assert body["error"] == code
    return body


# --- registration ---

def test_register_creates_an_account_with_the_signup_bonus(panel):
    response = panel.client.post("/api/v1/auth/register", json={"email": "New@Example.com", "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "new@example.com"
    assert body["balance"] == {"bonus": 3, "paid": 0, "total": 3}
    assert body["role"] == "user"


def test_register_twice_is_400(panel, member):
    response = panel.client.post("/api/v1/auth/register", json={"email": "MEMBER@example.com", "password": PASSWORD})
    assert_error(response, 400, "email_taken")


@pytest.mark.parametrize(("body", "code"), [
    ({"email": "not-an-email", "password": PASSWORD}, "invalid_email"),
    ({"email": "a@example.com", "password": "short1"}, "weak_password"),
    ({"email": "a@example.com", "password": "password"}, "weak_password"),
    ({"email": "a@example.com"}, "bad_request"),
    ({"email": 5, "password": PASSWORD}, "bad_request"),
    ({"email": "a\x00@example.com", "password": PASSWORD}, "bad_request"),
    ([], "bad_request"),
])
def test_register_refuses_bad_input_with_400(panel, body, code):
    assert_error(panel.client.post("/api/v1/auth/register", json=body), 400, code)


def test_register_refuses_a_non_json_body(panel):
    assert_error(panel.client.post("/api/v1/auth/register", data="email=x"), 400, "bad_request")


# --- tokens ---

def test_token_for_good_credentials(panel, member):
    response = panel.client.post("/api/v1/auth/token", json={"email": "member@example.com", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == panel.settings.jwt_ttl_seconds
    me = panel.client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.get_json()["id"] == member.id
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("email", ["member@example.com", "nobody@example.com"])
def test_token_for_wrong_credentials_is_401(panel, member, email):
    response = panel.client.post("/api/v1/auth/token", json={"email": email, "password": "wrong-pass-1"})
    assert_error(response, 401, "invalid_credentials")


def test_token_for_a_blocked_user_is_403(panel, member):
    accounts.block_user(member.id)
    response = panel.client.post("/api/v1/auth/token", json={"email": "member@example.com", "password": PASSWORD})
    assert_error(response, 403, "user_blocked")


# --- profile and ledger ---

def test_me_shows_profile_and_balance(panel):
    user = panel.user(credits=3)
    billing.top_up(user.id, 10, payment_id="pay-1")
    body = panel.client.get("/api/v1/me", headers=panel.auth(user)).get_json()
    assert body["id"] == user.id
    assert body["balance"] == {"bonus": 3, "paid": 10, "total": 13}


def test_transactions_lists_the_callers_ledger_newest_first(panel):
    user, other = panel.user(credits=3), panel.user(credits=5)
    billing.top_up(user.id, 10, payment_id="pay-2")
    body = panel.client.get("/api/v1/transactions", headers=panel.auth(user)).get_json()
    assert [(e["kind"], e["amount"]) for e in body["items"]] == [("topup", 10), ("signup_bonus", 3)]
    assert {e["user_id"] for e in body["items"]} == {user.id} != {other.id}
    assert (body["page"], body["total"], body["pages"]) == (1, 2, 1)


def test_transactions_second_page_is_empty_for_a_short_ledger(panel):
    user = panel.user()
    body = panel.client.get("/api/v1/transactions?page=2", headers=panel.auth(user)).get_json()
    assert body["items"] == [] and body["page"] == 2


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "100001"])
def test_bad_page_is_400(panel, page):
    user = panel.user()
    assert_error(panel.client.get(f"/api/v1/transactions?page={page}", headers=panel.auth(user)), 400)


# --- token attacks ---

def test_no_token_is_401(panel):
    response = panel.client.get("/api/v1/me")
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt", "Token abc"])
def test_malformed_authorization_is_401(panel, header):
    assert_error(panel.client.get("/api/v1/me", headers={"Authorization": header}), 401, "invalid_token")


def test_expired_token_is_401(panel):
    user = panel.user()
    token = tokens._encode(user, "access", -timedelta(seconds=1), panel.settings)
    body = assert_error(panel.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401)
    assert "expired" in body["message"]


def test_tampered_token_is_401(panel):
    user, admin = panel.user(), panel.admin()
    header, _, signature = panel.token(user).split(".")
    forged = _b64(jwt.decode(panel.token(admin), options={"verify_signature": False}))
    headers = {"Authorization": f"Bearer {header}.{forged}.{signature}"}
    response = panel.client.get("/api/v1/admin/stats", headers=headers)
    assert_error(response, 401, "invalid_token")


def test_alg_none_token_is_401(panel):
    admin = panel.admin()
    claims = jwt.decode(panel.token(admin), options={"verify_signature": False})
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    assert_error(panel.client.get("/api/v1/admin/stats", headers={"Authorization": f"Bearer {token}"}), 401)


def test_login_link_is_not_an_api_token(panel):
    user = panel.user()
    token = tokens.issue_login_link(user.id, panel.settings).rsplit("#", 1)[1]
    assert_error(panel.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401)


def test_new_api_key_revokes_the_old_token(panel):
    user = panel.user()
    old = panel.auth(user)
    response = panel.client.post("/api/v1/auth/apikey", headers=old)
    assert response.status_code == 200
    key = response.get_json()["access_token"]
    assert response.get_json()["expires_in"] == panel.settings.api_token_ttl_days * 86400
    assert panel.client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert_error(panel.client.get("/api/v1/me", headers=old), 401, "invalid_token")


def test_password_change_revokes_the_token(panel, member):
    headers = panel.auth(member)
    accounts.set_password(member.id, "brand-new-pass-2")
    assert_error(panel.client.get("/api/v1/me", headers=headers), 401, "invalid_token")


def test_blocked_users_token_is_401(panel):
    user = panel.user()
    headers = panel.auth(user)
    accounts.block_user(user.id)
    assert_error(panel.client.get("/api/v1/me", headers=headers), 401, "invalid_token")


# --- the browser's cookie on the API ---

def test_cookie_is_accepted_for_reads(panel):
    user = panel.user()
    panel.sign_in_browser(user)
    assert panel.client.get("/api/v1/me").get_json()["id"] == user.id


def test_cookie_write_without_csrf_header_is_403(panel):
    user = panel.user()
    panel.sign_in_browser(user)
    assert_error(panel.client.post("/api/v1/auth/apikey"), 403, "forbidden")
    assert accounts.get_user(user.id).token_version == user.token_version


def test_cookie_write_with_csrf_header_is_accepted(panel):
    user = panel.user()
    panel.sign_in_browser(user)
    token = panel.csrf()
    assert panel.client.post("/api/v1/auth/apikey", headers={"X-CSRF-Token": token}).status_code == 200


# --- the error shape for routing errors ---

def test_unknown_api_route_is_json_404(panel):
    assert_error(panel.client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_json_405(panel):
    response = panel.client.delete("/api/v1/me")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
