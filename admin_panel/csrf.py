"""CSRF protection for forms and cookie-authenticated API calls: a signed double-submit cookie.

A random value lives in an HttpOnly, SameSite=Strict cookie; forms (and the page's fetch calls,
in the X-CSRF-Token header) carry HMAC(key, value). A request is accepted only when the two
match, so another site can neither read nor forge the pair. Written by hand: it is 60 lines,
and Flask-WTF would bring forms machinery the panel does not need.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import abort, g, request

from admin_panel.extensions import services
from core.tokens import signing_secret

COOKIE = "cutout_csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _sign(value: str) -> str:
    key = hashlib.sha256(b"csrf:" + signing_secret(services().settings).encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def csrf_token() -> str:
    """The token to put in a form (sets the cookie on this response when the browser has none)."""
    if "csrf_value" not in g:
        value = request.cookies.get(COOKIE, "")
        if len(value) < 32:
            value = secrets.token_urlsafe(32)
            g.csrf_new = True
        g.csrf_value = value
    return _sign(g.csrf_value)


def is_valid(submitted: str | None) -> bool:
    """True when the submitted token matches this browser's cookie."""
    value = request.cookies.get(COOKIE, "")
    return bool(submitted and len(value) >= 32 and hmac.compare_digest(_sign(value), submitted))


def require_form_token() -> None:
    """Abort with 400 unless the form (or header) carries this browser's CSRF token."""
    if not is_valid(request.form.get(FIELD) or request.headers.get(HEADER)):
        abort(400, description="The form has expired or did not come from this site. Reload the page and try again.")


def require_header_token() -> None:
    """Abort with 403 unless a cookie-authenticated API call carries the X-CSRF-Token header."""
    if not is_valid(request.headers.get(HEADER)):
        abort(403, description="A request signed in by cookie needs the X-CSRF-Token header.")


def set_cookie(response, secure: bool):
    """after_request: store a newly made CSRF value in its cookie."""
    if g.get("csrf_new"):
        response.set_cookie(COOKIE, g.csrf_value, httponly=True, samesite="Strict", secure=secure, path="/")
    return response
