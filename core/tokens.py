"""Signed tokens (pyjwt, HS256): sign-in tokens, API keys and one-time sign-in links.

Every token carries `sub` (the user id), `role`, `iat`, `exp`, `typ` (access | api | login) and
`ver`: the user's key_version for an API key, else their token_version, so bumping one revokes
every older token of that kind (signing out ends the browser's and the API's sign-ins but keeps
the API key; a new key or a new password ends both).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from peewee import IntegrityError

from core import accounts
from core.db import db
from core.errors import InvalidToken, SettingsError
from core.models import UsedLoginLink, User
from core.settings import Settings
from core.views import UserView

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "role", "iat", "exp", "ver", "typ"]
TYPES = ("access", "api", "login")
LOGIN_LINK_TTL_SECONDS = 600
# The token rides in the URL fragment: browsers never send it to the server on the GET (so it
# stays out of access logs), and link previewers cannot redeem it; the page POSTs it.
LOGIN_LINK_PATH = "/login/link#"

_dev_secret: str | None = None
_dev_secret_lock = threading.Lock()


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    role: str  # "admin" only while both the token and the account say so
    typ: str
    must_change_password: bool = False  # a first admin's generated password, not yet changed


def signing_secret(settings: Settings) -> str:
    """JWT_SECRET; in development without one, a generated secret kept in var/jwt_secret, so
    tokens survive a restart and every local process (panel, bot) signs with the same one."""
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.app_env != "development":
        raise SettingsError("JWT_SECRET must be set outside development")
    global _dev_secret
    with _dev_secret_lock:
        if _dev_secret is None:
            _dev_secret = _development_secret(Path(settings.storage_dir).parent / "jwt_secret")
        return _dev_secret


def _development_secret(path: Path) -> str:
    if not path.is_file():
        _create_secret_file(path)
    return path.read_text().strip()


def _create_secret_file(path: Path) -> None:
    """Write a new secret whole, then link it into place: the panel and the bot start together,
    and neither may see a half-written file or fail because the other got there first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jwt_secret-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        os.link(tmp, path)  # fails if another process linked its own first; theirs is kept
        logger.warning("JWT_SECRET is empty: generated a development secret in %s; set JWT_SECRET in production",
                       path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def role_of(user: UserView) -> str:
    """The role a user's tokens carry."""
    return "admin" if user.is_admin else "user"


def _encode(user: UserView, typ: str, ttl: timedelta, settings: Settings, **extra) -> str:
    now = datetime.now(UTC)
    version = user.key_version if typ == "api" else user.token_version
    payload = {"sub": str(user.id), "role": role_of(user), "iat": now, "exp": now + ttl,
               "ver": version, "typ": typ, **extra}
    return jwt.encode(payload, signing_secret(settings), algorithm=ALGORITHM)


def issue_access_token(user: UserView, settings: Settings) -> str:
    """A sign-in token for the API and the browser, valid JWT_TTL_SECONDS."""
    return _encode(user, "access", timedelta(seconds=settings.jwt_ttl_seconds), settings)


def issue_api_key(user_id: int, settings: Settings) -> str:
    """A long-lived personal API key; revokes every token issued before (including older keys)."""
    user = accounts.revoke_keys(user_id)
    return _encode(user, "api", timedelta(days=settings.api_token_ttl_days), settings)


def issue_login_link(user_id: int, settings: Settings) -> str:
    """A short-lived, single-use URL that signs the user in to the web page."""
    user = accounts.require_active(user_id)
    token = _encode(user, "login", timedelta(seconds=LOGIN_LINK_TTL_SECONDS), settings,
                    jti=uuid.uuid4().hex)
    return settings.public_url.rstrip("/") + LOGIN_LINK_PATH + token


def _decode(token: str, settings: Settings) -> dict:
    if not isinstance(token, str) or not token:
        raise InvalidToken("A token is required.")
    try:
        # algorithms is pinned: `alg: none` and any other algorithm are refused by pyjwt.
        return jwt.decode(token, signing_secret(settings), algorithms=[ALGORITHM],
                          options={"require": REQUIRED_CLAIMS})
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The token has expired.") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The token is invalid.") from None


_USER_CHECK_SQL: dict[type, str] = {}


def _user_check_sql() -> str:
    """The SELECT of the columns a token check needs, composed once per database class
    (composing it costs peewee more CPU than the database spends answering)."""
    sql = _USER_CHECK_SQL.get(type(db.obj))
    if sql is None:
        query = User.select(User.token_version, User.key_version, User.is_blocked, User.is_admin,
                            User.must_change_password).where(User.id == 0)
        sql = _USER_CHECK_SQL[type(db.obj)] = query.sql()[0]
    return sql


def _check_user(payload: dict) -> TokenClaims:
    """The claims, once the token's user exists, is not blocked and has not revoked it (one
    indexed query on the few columns needed: this runs on every API request)."""
    try:
        user_id = int(payload["sub"])
    except (ValueError, TypeError):
        raise InvalidToken("The token is invalid.") from None
    if not 0 < user_id < 2**31:
        raise InvalidToken("The token is invalid.")
    row = db.execute_sql(_user_check_sql(), (user_id,)).fetchone()
    if row is None:
        raise InvalidToken("The token is invalid.")
    token_version, key_version, is_blocked, is_admin, must_change_password = row
    if payload["typ"] not in TYPES or payload["ver"] != (key_version if payload["typ"] == "api" else token_version):
        raise InvalidToken("The token has been revoked.")
    if is_blocked:
        raise InvalidToken("This account is blocked.")
    role = "admin" if payload["role"] == "admin" and is_admin else "user"
    return TokenClaims(user_id=user_id, role=role, typ=payload["typ"], must_change_password=bool(must_change_password))


def verify_token(token: str, settings: Settings) -> TokenClaims:
    """The claims of a valid access token or API key; raise InvalidToken otherwise."""
    payload = _decode(token, settings)
    if payload.get("typ") == "login":
        raise InvalidToken("A sign-in link is not an access token.")
    return _check_user(payload)


def redeem_login_link(token: str, settings: Settings) -> UserView:
    """The user of a one-time sign-in link (the token part of the URL); it cannot be used again."""
    if isinstance(token, str) and LOGIN_LINK_PATH in token:
        token = token.rsplit(LOGIN_LINK_PATH, 1)[1]
    payload = _decode(token, settings)
    if payload["typ"] != "login" or not payload.get("jti"):
        raise InvalidToken("This is not a sign-in link.")
    claims = _check_user(payload)
    try:
        with db.atomic():
            UsedLoginLink.create(jti=str(payload["jti"])[:64], user=claims.user_id)
    except IntegrityError:
        raise InvalidToken("This sign-in link has already been used.") from None
    logger.info("user %s signed in with a one-time link", claims.user_id)
    return accounts.get_user(claims.user_id)
