"""Who is calling: Bearer tokens for the API, an HttpOnly cookie for the browser; the decorators
that guard views; the browser's sign-in, sign-out and one-time-link pages."""

from __future__ import annotations

import logging
from functools import cached_property, wraps
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from admin_panel import csrf
from admin_panel import limiter as limits
from admin_panel.errors import error_response, status_for
from admin_panel.extensions import services
from core import accounts, tokens
from core.errors import (
    CutoutError,
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidToken,
    WeakPassword,
    WrongPassword,
)
from core.passwords import MIN_LENGTH
from core.tokens import TokenClaims
from core.views import UserView

logger = logging.getLogger(__name__)

COOKIE = "cutout_token"
bp = Blueprint("auth", __name__)


class Identity:
    """The caller: the token's claims, and the user loaded only when a view needs more than the id."""

    def __init__(self, claims: TokenClaims, via_cookie: bool):
        self.claims = claims
        self.via_cookie = via_cookie

    @property
    def user_id(self) -> int:
        return self.claims.user_id

    @property
    def is_admin(self) -> bool:
        return self.claims.role == "admin"

    @cached_property
    def user(self) -> UserView:
        return accounts.get_user(self.claims.user_id)


def _authenticate() -> Identity | None:
    header = request.headers.get("Authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("Send the token as: Authorization: Bearer <token>.")
        return Identity(tokens.verify_token(token.strip(), services().settings), via_cookie=False)
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return Identity(tokens.verify_token(token, services().settings), via_cookie=True)


def identity() -> Identity | None:
    """The caller (checked once per request); raise InvalidToken for a bad token."""
    if "identity" not in g:
        g.identity = None
        g.identity = _authenticate()
    return g.identity


def page_identity() -> Identity | None:
    """The browser's signed-in user, or None (a stale cookie counts as signed out)."""
    try:
        return identity()
    except InvalidToken:
        return None


# What an account that must first change its password may still do through the API.
PASSWORD_CHANGE_ENDPOINTS = ("api.me", "api.change_password")


def token_required(view):
    """API: a valid token (Bearer, or the cookie plus X-CSRF-Token on unsafe methods), else 401;
    403 password_change_required while a first admin's generated password is unchanged."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        who = identity()
        if who is None:
            return error_response("unauthorized", "Sign in: send Authorization: Bearer <token>.", 401)
        if who.via_cookie and request.method in csrf.UNSAFE_METHODS:
            csrf.require_header_token()
        if who.claims.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
            return error_response("password_change_required", "Change the one-time password first: POST "
                                  "/api/v1/me/password, or sign in to the panel.", 403)
        return view(*args, **kwargs)
    return wrapped


def login_required(view):
    """Pages: a signed-in browser, else a redirect to the sign-in page; a person who must change
    their password (a first admin's generated one) is sent to do that first."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        who = page_identity()
        if who is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if who.claims.must_change_password and request.endpoint != "auth.change_password":
            return redirect(url_for("auth.change_password", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def _admins_only(signed_in, who, refuse):
    """A decorator: `signed_in` first, then `refuse()` unless `who()` is an admin."""
    def decorator(view):
        @signed_in
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not who().is_admin:
                return refuse()
            return view(*args, **kwargs)
        return wrapped
    return decorator


# API: a valid admin token, else 401 (no token) or 403 (not an admin).
admin_token_required = _admins_only(
    token_required, identity, lambda: error_response("forbidden", "This needs an admin token.", 403))
# Pages: a signed-in admin, else the sign-in page (or 403 for a signed-in user).
admin_required = _admins_only(
    login_required, page_identity,
    lambda: (render_template("error.html", status=403, title="Admins only", message="This page is for admins."), 403))


def sign_in(email: str, password: str) -> UserView:
    """Check email and password, within the sign-in limits (admin_panel.limiter)."""
    limiter = services().limiter
    limits.before_sign_in(limiter, email)
    try:
        user = accounts.authenticate(email, password)
    except InvalidCredentials:
        limits.sign_in_failed(limiter, email)
        raise
    limits.sign_in_succeeded(limiter, email)
    return user


def register_account(email: str, password: str) -> UserView:
    """A new account with email and password, within the registration limits; the signup bonus
    while this address has not had SIGNUP_BONUS_PER_ADDRESS_PER_DAY of them today. The same for
    the API and the page."""
    limiter, settings = services().limiter, services().settings
    limits.check_registration(limiter)
    bonus = settings.signup_bonus_credits
    if bonus and not limits.bonus_allowed(limiter, settings.signup_bonus_per_address_per_day):
        logger.info("no signup bonus for %s: this address had its %d today", accounts.normalize_email(email),
                    settings.signup_bonus_per_address_per_day)
        bonus = 0
    return accounts.register_email_user(email, password, signup_bonus=bonus)


def _safe_next(target: str | None, user: UserView) -> str:
    default = url_for("admin.dashboard") if user.is_admin else url_for("web.home")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _signed_in(user: UserView, target: str | None):
    settings = services().settings
    if user.must_change_password:
        target = url_for("auth.change_password", next=_safe_next(target, user))
    response = redirect(_safe_next(target, user))
    response.set_cookie(COOKIE, tokens.issue_access_token(user, settings), max_age=settings.jwt_ttl_seconds,
                        httponly=True, samesite="Strict", secure=settings.public_url.startswith("https:"), path="/")
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password."""
    error, status = None, 200
    if request.method == "POST":
        csrf.require_form_token()
        try:
            user = sign_in(request.form.get("email", ""), request.form.get("password", ""))
            return _signed_in(user, request.args.get("next"))
        except CutoutError as exc:
            error, status = exc.message, status_for(exc)
    return render_template("login.html", error=error, email=request.form.get("email", "")), status


# Which field a refusal belongs next to on the sign-up page (others show above the form).
FIELD_OF = {InvalidEmail: "email", EmailTaken: "email", WeakPassword: "password"}


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Create an account with email and password (the API's rules and limits), then signed in."""
    errors, status = {}, 200
    if request.method == "POST":
        csrf.require_form_token()
        try:
            user = register_account(request.form.get("email", ""), request.form.get("password", ""))
            return _signed_in(user, None)
        except CutoutError as exc:
            errors, status = {FIELD_OF.get(type(exc), "form"): exc.message}, status_for(exc)
    return render_template("signup.html", errors=errors, email=request.form.get("email", ""),
                           bonus=services().settings.signup_bonus_credits, min_length=MIN_LENGTH), status


@bp.get("/admin/login")
def admin_login():
    """The admins' sign-in address: the one sign-in page, then the dashboard."""
    return redirect(url_for("auth.login", next=url_for("admin.dashboard")))


@bp.post("/logout")
def logout():
    """Sign out: every sign-in token issued before stops working (a copied cookie included), and
    the browser forgets its own. API keys stay."""
    csrf.require_form_token()
    who = page_identity()
    if who is not None:
        accounts.revoke_tokens(who.user_id)
        logger.info("user %s signed out", who.user_id)
    response = redirect(url_for("auth.login"))
    response.delete_cookie(COOKIE, path="/")
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change the password: every token and API key issued before stops working; this browser
    gets a fresh sign-in."""
    who, error, status = page_identity(), None, 200
    if request.method == "POST":
        csrf.require_form_token()
        new = request.form.get("new_password", "")
        try:
            if new != request.form.get("new_password_again", ""):
                raise WeakPassword("The two new passwords differ.")
            user = change_password_checked(who.user_id, request.form.get("current_password", ""), new)
        except CutoutError as exc:
            error, status = exc.message, status_for(exc)
        else:
            flash("Your password is changed. Every other sign-in and API key has stopped working.", "ok")
            return _signed_in(user, request.args.get("next"))
    return render_template("password.html", error=error, forced=who.user.must_change_password), status


def change_password_checked(user_id: int, current: str, new: str) -> UserView:
    """accounts.change_password, with wrong current passwords slowed down like failed sign-ins
    (a stolen session must not become a way to guess the password)."""
    limiter = services().limiter
    limits.before_password_check(limiter, user_id)
    try:
        user = accounts.change_password(user_id, current, new)
    except WrongPassword:
        limits.password_check_failed(limiter, user_id)
        raise
    limits.password_check_passed(limiter, user_id)
    logger.info("user %s changed their password", user_id)
    return user


@bp.route("/login/link", methods=["GET", "POST"])
def login_link():
    """Sign in with a one-time link from the bot; the page POSTs the token from the URL fragment."""
    if request.method == "GET":
        return render_template("link.html", error=None)
    csrf.require_form_token()
    try:
        user = tokens.redeem_login_link(request.form.get("token", ""), services().settings)
    except InvalidToken as exc:
        return render_template("link.html", error=exc.message), 401
    return _signed_in(user, url_for("web.home"))
