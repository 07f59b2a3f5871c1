"""Admins are made, not taken: create-admin refuses an address somebody registered first, the
first admin exists before registrations open and must replace a generated password, and a
password change or a sign-out ends the sessions issued before."""

from __future__ import annotations

import pytest

from core import accounts, tokens
from core.errors import AccountExists, InvalidToken
from core.models import User
from tests.support.panel import Panel, form, html
from tests.test_api import assert_error
from tests.test_cli import cli  # noqa: F401 - the fixture

OWNER_PASSWORD = "correct-horse-42"
NEW_PASSWORD = "battery-staple-77"


@pytest.fixture
def panel(settings):
    """The panel on the same database as the command line (SQLite, then PostgreSQL)."""
    return Panel.build(settings)


def register(panel, email: str, password: str = OWNER_PASSWORD):
    response = panel.client.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def sign_in(panel, email: str, password: str):
    return panel.client.post("/api/v1/auth/token", json={"email": email, "password": password})


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- create-admin ---


def test_create_admin_refuses_an_address_somebody_registered_first(cli, panel):  # noqa: F811
    register(panel, "boss@example.com")
    squatter_token = sign_in(panel, "boss@example.com", OWNER_PASSWORD).get_json()["access_token"]
    result = cli("create-admin", "--email", "boss@example.com", env={"ADMIN_PASSWORD": NEW_PASSWORD})
    assert result.returncode == 1
    assert "already registered" in result.stderr and "--promote-existing" in result.stderr
    assert not User.get(User.email == "boss@example.com").is_admin
    assert panel.client.get("/api/v1/admin/users", headers=bearer(squatter_token)).status_code == 403


def test_promote_existing_replaces_the_password_and_ends_the_accounts_sessions(cli, panel):  # noqa: F811
    register(panel, "boss@example.com")
    before = sign_in(panel, "boss@example.com", OWNER_PASSWORD).get_json()["access_token"]
    result = cli("create-admin", "--email", "boss@example.com", "--promote-existing",
                 env={"ADMIN_PASSWORD": NEW_PASSWORD})
    assert result.returncode == 0, result.stderr
    assert "now an admin with the new password" in result.stdout
    assert_error(panel.client.get("/api/v1/me", headers=bearer(before)), 401, "invalid_token")
    assert sign_in(panel, "boss@example.com", OWNER_PASSWORD).status_code == 401
    token = sign_in(panel, "boss@example.com", NEW_PASSWORD).get_json()["access_token"]
    assert panel.client.get("/api/v1/admin/users", headers=bearer(token)).status_code == 200


def test_create_admin_leaves_an_existing_admin_as_it_is(cli):  # noqa: F811
    assert cli("create-admin", "--email", "boss@example.com", env={"ADMIN_PASSWORD": NEW_PASSWORD}).returncode == 0
    again = cli("create-admin", "--email", "boss@example.com", env={"ADMIN_PASSWORD": "other-pass-99"})
    assert again.returncode == 0 and "already an admin" in again.stdout
    assert accounts.authenticate("boss@example.com", NEW_PASSWORD).is_admin


def test_the_first_admin_is_never_an_account_someone_registered(settings):
    accounts.register_email_user("admin@cutout.local", OWNER_PASSWORD)
    with pytest.raises(AccountExists):
        accounts.ensure_admin()
    assert not User.select().where(User.is_admin == True).exists()  # noqa: E712 - peewee expression


def test_ensure_admin_on_the_command_line_makes_the_first_admin_once(cli):  # noqa: F811
    first = cli("ensure-admin")
    assert first.returncode == 0, first.stderr
    assert "One-time password:" in first.stdout and "new password first" in first.stdout
    admin = User.get(User.is_admin == True)  # noqa: E712 - peewee expression
    assert admin.email == accounts.DEFAULT_ADMIN_EMAIL and admin.must_change_password
    second = cli("ensure-admin")
    assert second.returncode == 0 and second.stdout == ""
    assert User.select().where(User.is_admin == True).count() == 1  # noqa: E712


# --- the first admin's generated password ---


@pytest.fixture
def first_admin(panel):
    made = accounts.ensure_admin()
    assert made.user.must_change_password
    return made


def test_a_generated_password_must_be_changed_before_the_admin_api_answers(panel, first_admin):
    token = sign_in(panel, first_admin.user.email, first_admin.generated_password).get_json()["access_token"]
    assert_error(panel.client.get("/api/v1/admin/users", headers=bearer(token)), 403, "password_change_required")
    assert_error(panel.client.get("/api/v1/jobs", headers=bearer(token)), 403, "password_change_required")
    assert panel.client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    changed = panel.client.post("/api/v1/me/password", headers=bearer(token),
                                json={"current_password": first_admin.generated_password, "new_password": NEW_PASSWORD})
    assert changed.status_code == 204
    assert_error(panel.client.get("/api/v1/me", headers=bearer(token)), 401, "invalid_token")
    fresh = sign_in(panel, first_admin.user.email, NEW_PASSWORD).get_json()["access_token"]
    assert panel.client.get("/api/v1/admin/users", headers=bearer(fresh)).status_code == 200


def test_the_panel_asks_the_first_admin_for_a_new_password_at_first_sign_in(panel, first_admin):
    signed_in = form(panel, "/login", {"email": first_admin.user.email, "password": first_admin.generated_password})
    assert signed_in.status_code == 302 and "/account/password" in signed_in.headers["Location"]
    dashboard = panel.client.get("/admin/")
    assert dashboard.status_code == 302 and "/account/password" in dashboard.headers["Location"]
    assert "one-time password" in html(panel.client.get("/account/password"))
    done = form(panel, "/account/password", {"current_password": first_admin.generated_password,
                                             "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert done.status_code == 302
    assert panel.client.get("/admin/").status_code == 200
    assert not User.get_by_id(first_admin.user.id).must_change_password


# --- changing a password ---


def test_a_password_change_revokes_every_token_and_key_issued_before(panel):
    register(panel, "ann@example.com")
    token = sign_in(panel, "ann@example.com", OWNER_PASSWORD).get_json()["access_token"]
    key = panel.client.post("/api/v1/auth/apikey", headers=bearer(token)).get_json()["access_token"]
    other_session = sign_in(panel, "ann@example.com", OWNER_PASSWORD).get_json()["access_token"]
    response = panel.client.post("/api/v1/me/password", headers=bearer(other_session),
                                 json={"current_password": OWNER_PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 204 and response.get_data() == b""
    for old in (key, other_session):
        assert_error(panel.client.get("/api/v1/me", headers=bearer(old)), 401, "invalid_token")
    assert sign_in(panel, "ann@example.com", OWNER_PASSWORD).status_code == 401
    assert sign_in(panel, "ann@example.com", NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"current_password": "wrong-password-1", "new_password": NEW_PASSWORD}, 403, "wrong_password"),
    ({"current_password": OWNER_PASSWORD, "new_password": "short"}, 400, "weak_password"),
    ({"current_password": OWNER_PASSWORD, "new_password": OWNER_PASSWORD}, 400, "weak_password"),
    ({"current_password": OWNER_PASSWORD}, 400, "bad_request"),
])
def test_a_refused_password_change_changes_nothing(panel, body, status, code):
    register(panel, "ann@example.com")
    token = sign_in(panel, "ann@example.com", OWNER_PASSWORD).get_json()["access_token"]
    assert_error(panel.client.post("/api/v1/me/password", headers=bearer(token), json=body), status, code)
    assert panel.client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert accounts.authenticate("ann@example.com", OWNER_PASSWORD)


def test_guessing_the_current_password_with_a_stolen_session_is_slowed_down(panel):
    register(panel, "ann@example.com")
    token = sign_in(panel, "ann@example.com", OWNER_PASSWORD).get_json()["access_token"]
    guesses = [panel.client.post("/api/v1/me/password", headers=bearer(token),
                                 json={"current_password": f"guess-number-{n}", "new_password": NEW_PASSWORD})
               for n in range(7)]
    assert [g.status_code for g in guesses[:5]] == [403] * 5
    assert guesses[-1].status_code == 429 and int(guesses[-1].headers["Retry-After"]) >= 1


# --- signing out ---


def test_signing_out_revokes_the_session_a_copied_cookie_included_but_not_the_api_key(panel):
    register(panel, "ann@example.com")
    user = accounts.authenticate("ann@example.com", OWNER_PASSWORD)
    key = tokens.issue_api_key(user.id, panel.settings)
    form(panel, "/login", {"email": "ann@example.com", "password": OWNER_PASSWORD})
    copied = panel.client.get_cookie("cutout_token").value
    assert panel.client.get("/api/v1/me", headers=bearer(copied)).status_code == 200
    assert form(panel, "/logout").status_code == 302
    assert_error(panel.client.get("/api/v1/me", headers=bearer(copied)), 401, "invalid_token")
    with pytest.raises(InvalidToken):
        tokens.verify_token(copied, panel.settings)
    assert panel.client.get("/api/v1/me", headers=bearer(key)).status_code == 200
