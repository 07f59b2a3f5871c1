"""`make run`'s first start creates an admin; its one-time password must pass the password rule."""

from __future__ import annotations

import secrets

from core import accounts
from core.cli import announce_first_admin
from core.models import User


def test_first_start_creates_an_admin_even_when_the_random_password_comes_out_all_letters(
        sqlite_settings, monkeypatch, capsys):
    # token_urlsafe(12) is 16 characters of [A-Za-z0-9_-]: about 1 in 28 are letters only, which the
    # password rule refuses; `make run` then stopped with "cannot start" on a fresh machine.
    draws = iter(["onlyLettersHereAB", "n0t-only-letters"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda *_: next(draws))
    announce_first_admin(sqlite_settings)
    admin = User.get(User.is_admin == True)  # noqa: E712 - peewee expression
    assert admin.email == accounts.DEFAULT_ADMIN_EMAIL
    assert "One-time password: n0t-only-letters" in capsys.readouterr().out
