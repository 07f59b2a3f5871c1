"""Tokens: sign-in tokens, API keys and one-time links, and the attacks they must refuse."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from datetime import timedelta

import jwt
import pytest

from core import accounts, tokens
from core.errors import InvalidToken, SettingsError
from tests.conftest import make_settings

PASSWORD = "correct-horse-9"


@pytest.fixture
def user(settings):
    return accounts.register_email_user("ann@example.com", PASSWORD)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_access_token_carries_the_required_claims(settings, user):
    claims = _claims(tokens.issue_access_token(user, settings))
    assert claims["sub"] == str(user.id)
    assert claims["role"] == "user"
    assert claims["typ"] == "access"
    assert claims["ver"] == user.token_version
    assert claims["exp"] - claims["iat"] == settings.jwt_ttl_seconds


def test_valid_access_token_verifies(settings, user):
    claims = tokens.verify_token(tokens.issue_access_token(user, settings), settings)
    assert claims == tokens.TokenClaims(user_id=user.id, role="user", typ="access")


def test_admin_role_needs_an_admin_account(settings, user):
    admin = accounts.promote_to_admin(user.id)
    assert tokens.verify_token(tokens.issue_access_token(admin, settings), settings).role == "admin"
    # A token minted while the user was not an admin stays a user token.
    assert tokens.verify_token(tokens.issue_access_token(user, settings), settings).role == "user"


def test_expired_token_is_refused(settings, user):
    token = tokens._encode(user, "access", -timedelta(seconds=5), settings)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify_token(token, settings)


def test_tampered_signature_is_refused(settings, user):
    header, payload, signature = tokens.issue_access_token(user, settings).split(".")
    forged = _b64({**_claims(f"{header}.{payload}.{signature}"), "role": "admin"})
    with pytest.raises(InvalidToken):
        tokens.verify_token(f"{header}.{forged}.{signature}", settings)


def test_token_signed_with_another_secret_is_refused(settings, user):
    token = tokens.issue_access_token(user, replace(settings, jwt_secret="another-secret-" + "y" * 40))
    with pytest.raises(InvalidToken):
        tokens.verify_token(token, settings)


def test_alg_none_is_refused(settings, user):
    claims = _claims(tokens.issue_access_token(user, settings))
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({**claims, 'role': 'admin'})}."
    with pytest.raises(InvalidToken):
        tokens.verify_token(token, settings)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_hmac_algorithm_is_refused(settings, user):
    claims = _claims(tokens.issue_access_token(user, settings))
    token = jwt.encode(claims, settings.jwt_secret, algorithm="HS512")
    with pytest.raises(InvalidToken):
        tokens.verify_token(token, settings)


@pytest.mark.parametrize("missing", tokens.REQUIRED_CLAIMS)
def test_token_without_a_required_claim_is_refused(settings, user, missing):
    claims = _claims(tokens.issue_access_token(user, settings))
    del claims[missing]
    with pytest.raises(InvalidToken):
        tokens.verify_token(jwt.encode(claims, settings.jwt_secret, algorithm="HS256"), settings)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x"])
def test_garbage_is_refused(settings, garbage):
    with pytest.raises(InvalidToken):
        tokens.verify_token(garbage, settings)


def test_new_api_key_revokes_the_old_key_and_sign_in_tokens(settings, user):
    access = tokens.issue_access_token(user, settings)
    first = tokens.issue_api_key(user.id, settings)
    assert tokens.verify_token(first, settings).typ == "api"
    second = tokens.issue_api_key(user.id, settings)
    assert tokens.verify_token(second, settings).user_id == user.id
    for old in (access, first):
        with pytest.raises(InvalidToken, match="revoked"):
            tokens.verify_token(old, settings)


def test_api_key_lives_api_token_ttl_days(settings, user):
    claims = _claims(tokens.issue_api_key(user.id, settings))
    assert claims["exp"] - claims["iat"] == settings.api_token_ttl_days * 86400


def test_password_change_revokes_tokens(settings, user):
    token = tokens.issue_access_token(user, settings)
    accounts.set_password(user.id, "another-pass-7")
    with pytest.raises(InvalidToken, match="revoked"):
        tokens.verify_token(token, settings)


def test_blocked_user_token_is_refused(settings, user):
    token = tokens.issue_access_token(user, settings)
    accounts.block_user(user.id)
    with pytest.raises(InvalidToken, match="blocked"):
        tokens.verify_token(token, settings)


def test_unknown_user_token_is_refused(settings, user):
    ghost = replace(user, id=user.id + 1000)
    with pytest.raises(InvalidToken):
        tokens.verify_token(tokens.issue_access_token(ghost, settings), settings)


def test_login_link_signs_in_once(settings, user):
    link = tokens.issue_login_link(user.id, settings)
    assert link.startswith(settings.public_url.rstrip("/") + tokens.LOGIN_LINK_PATH)
    assert tokens.redeem_login_link(link, settings).id == user.id
    with pytest.raises(InvalidToken, match="already been used"):
        tokens.redeem_login_link(link, settings)


def test_login_link_accepts_the_bare_token(settings, user):
    token = tokens.issue_login_link(user.id, settings).rsplit("#", 1)[1]
    assert tokens.redeem_login_link(token, settings).id == user.id


def test_login_link_is_short_lived(settings, user):
    claims = _claims(tokens.issue_login_link(user.id, settings).rsplit("#", 1)[1])
    assert claims["exp"] - claims["iat"] == tokens.LOGIN_LINK_TTL_SECONDS <= 900


def test_login_link_is_not_an_access_token(settings, user):
    token = tokens.issue_login_link(user.id, settings).rsplit("#", 1)[1]
    with pytest.raises(InvalidToken):
        tokens.verify_token(token, settings)


def test_access_token_is_not_a_login_link(settings, user):
    with pytest.raises(InvalidToken):
        tokens.redeem_login_link(tokens.issue_access_token(user, settings), settings)


def test_login_link_for_blocked_user_is_refused(settings, user):
    link = tokens.issue_login_link(user.id, settings)
    accounts.block_user(user.id)
    with pytest.raises(InvalidToken):
        tokens.redeem_login_link(link, settings)


def test_secret_is_required_outside_development(tmp_path):
    settings = make_settings(tmp_path, jwt_secret="")
    assert settings.app_env == "test"
    with pytest.raises(SettingsError):
        tokens.signing_secret(settings)


def test_development_without_secret_keeps_one_generated_secret_under_var(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(tokens, "_dev_secret", None)
    settings = make_settings(tmp_path, jwt_secret="", app_env="development")
    with caplog.at_level("WARNING", logger="core.tokens"):
        first = tokens.signing_secret(settings)
    assert len(first) >= 32 and first == tokens.signing_secret(settings)
    assert "generated a development secret" in caplog.text
    kept = tmp_path / "jwt_secret"  # beside the storage directory, under var/ by default
    assert kept.read_text() == first and kept.stat().st_mode & 0o777 == 0o600
    monkeypatch.setattr(tokens, "_dev_secret", None)  # another process, or a restart
    assert tokens.signing_secret(settings) == first


def test_development_secret_written_by_another_process_meanwhile_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(tokens, "_dev_secret", None)
    settings = make_settings(tmp_path, jwt_secret="", app_env="development")
    kept = tmp_path / "jwt_secret"
    kept.write_text("theirs-" + "y" * 40)
    # Both processes looked before either wrote: ours finds no file, theirs has just made it.
    monkeypatch.setattr(tokens.Path, "is_file", lambda self: False)
    assert tokens.signing_secret(settings) == "theirs-" + "y" * 40


def test_issued_at_is_now(settings, user):
    claims = _claims(tokens.issue_access_token(user, settings))
    assert abs(claims["iat"] - time.time()) < 5
