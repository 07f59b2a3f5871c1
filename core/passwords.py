"""Password hashing (werkzeug's scrypt) and the strength rule."""

from __future__ import annotations

import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from core.errors import WeakPassword

MIN_LENGTH = 8
_COMMON = {"password", "password1", "12345678", "123456789", "qwerty123", "iloveyou", "11111111", "abc12345"}
# Checked when the email is unknown, so a miss takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


def hash_password(password: str) -> str:
    """A salted scrypt hash of an already validated password."""
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; spends the same time when there is no hash."""
    return check_password_hash(password_hash or _DUMMY_HASH, password or "") and password_hash is not None


def check_strength(password: str) -> None:
    """Raise WeakPassword unless the password is long and not trivially guessable."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise WeakPassword(f"The password must be at least {MIN_LENGTH} characters long.")
    if len(password) > 256:
        raise WeakPassword("The password must be at most 256 characters long.")
    if password.lower() in _COMMON or len(set(password)) < 4:
        raise WeakPassword("The password is too easy to guess.")
    if password.isdigit() or password.isalpha():
        raise WeakPassword("The password must mix letters with digits or symbols.")


def generate_password() -> str:
    """A random password that passes check_strength (a printed one-time password, say)."""
    while True:
        candidate = secrets.token_urlsafe(12)
        try:
            check_strength(candidate)
            return candidate
        except WeakPassword:  # letters only, about 1 draw in 28
            continue
