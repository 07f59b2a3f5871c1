"""The panel's limits, per client address and per account, counted in the database
(core.ratelimit) so that every gunicorn worker and every panel replica shares them.

- Registration: REGISTER_PER_MINUTE and REGISTER_PER_DAY per address; the signup bonus goes to
  at most SIGNUP_BONUS_PER_ADDRESS_PER_DAY of them (later ones register without it).
- Sign-in: SIGN_IN_PER_MINUTE per address. Failures slow down the pair (email, address) and the
  address (one host trying many emails); the email alone only has a far higher ceiling, so that
  somebody failing elsewhere cannot keep the owner out.
- A password change: failures slow down the account (a stolen session guessing the password).
- Job submissions: JOBS_PER_MINUTE per account and per address (MAX_JOBS_IN_FLIGHT holds too).
Every refusal is 429 with Retry-After.
"""

from __future__ import annotations

import ipaddress

from flask import request

from core.errors import CutoutError
from core.ratelimit import Limiter, Rule

REGISTER_PER_MINUTE = Rule("register", 5, 60)
REGISTER_PER_DAY = Rule("register-day", 20, 86400)
SIGN_IN_PER_MINUTE = Rule("sign-in", 20, 60)
JOBS_PER_MINUTE = Rule("jobs", 60, 60)
JOBS_PER_ADDRESS_PER_MINUTE = Rule("jobs-address", 120, 60)
EMAIL_FAILURE_CEILING = 100  # failed sign-ins of one email from everywhere, per 15 minutes

__all__ = ["Limiter", "TooManyAttempts", "client_address"]


class TooManyAttempts(CutoutError):
    """Too many requests; wait a little."""

    code = "too_many_attempts"

    def __init__(self, message: str | None = None, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


def client_address() -> str:
    """The client's address as the limits count it: IPv4 as is, IPv6 by its /64 (one host's network)."""
    raw = request.remote_addr or "?"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def _refuse(wait: float, what: str) -> None:
    if wait > 0:
        seconds = int(wait) + (wait % 1 > 0)
        raise TooManyAttempts(f"Too many {what}; try again in {seconds} seconds.", retry_after=seconds)


def check(limiter: Limiter, what: str, *hits: tuple[Rule, str]) -> None:
    """Count each (rule, subject) hit; TooManyAttempts if any is over its limit."""
    _refuse(max(limiter.hit(rule, subject) for rule, subject in hits), what)


def check_registration(limiter: Limiter) -> None:
    address = client_address()
    check(limiter, "registrations from this address", (REGISTER_PER_MINUTE, address), (REGISTER_PER_DAY, address))


def bonus_allowed(limiter: Limiter, per_day: int) -> bool:
    """True while this address has had fewer than `per_day` signup bonuses today (counts this one)."""
    return per_day > 0 and limiter.hit(Rule("signup-bonus", per_day, 86400), client_address()) == 0


def check_submission(limiter: Limiter, user_id: int) -> None:
    check(limiter, "photos at once", (JOBS_PER_MINUTE, f"user:{user_id}"),
          (JOBS_PER_ADDRESS_PER_MINUTE, client_address()))


def _failure_keys(email: str) -> tuple[str, str, str]:
    """(pair, address, email) failure keys of a sign-in from this client."""
    email = (email or "").strip().lower()[:254]
    address = client_address()
    return f"fail-pair:{email}|{address}", f"fail-address:{address}", f"fail-email:{email}"


def before_sign_in(limiter: Limiter, email: str) -> None:
    """Refuse a sign-in that comes too often, or too soon after failures of this client."""
    pair, address, by_email = _failure_keys(email)
    check(limiter, "sign-in attempts from this address", (SIGN_IN_PER_MINUTE, client_address()))
    _refuse(max(limiter.failure_wait([pair, address]), limiter.over_ceiling(by_email, EMAIL_FAILURE_CEILING)),
            "failed sign-ins")


def before_password_check(limiter: Limiter, user_id: int) -> None:
    _refuse(limiter.failure_wait([f"fail-user:{user_id}"]), "wrong passwords")


def password_check_failed(limiter: Limiter, user_id: int) -> None:
    limiter.fail([f"fail-user:{user_id}"])


def password_check_passed(limiter: Limiter, user_id: int) -> None:
    limiter.forget([f"fail-user:{user_id}"])


def sign_in_failed(limiter: Limiter, email: str) -> None:
    limiter.fail(_failure_keys(email))


def sign_in_succeeded(limiter: Limiter, email: str) -> None:
    """Forget this client's failures for the email; the address keeps its count (one host may be
    trying many emails) and so does the email's ceiling."""
    limiter.forget(_failure_keys(email)[:1])
