"""Users: registration, sign-in, roles, blocking and preferences."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from peewee import IntegrityError

from core import billing
from core.db import db
from core.enums import Bucket, EntryKind
from core.errors import EmailTaken, InvalidCredentials, InvalidEmail, UserBlocked, UserNotFound, WeakPassword
from core.models import User
from core.options import JobOptions, parse_options
from core.passwords import check_strength, generate_password, hash_password, verify_password
from core.views import Page, UserView, paginate

logger = logging.getLogger(__name__)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")
LANGUAGES = ("en", "ru")
DEFAULT_ADMIN_EMAIL = "admin@cutout.local"


@dataclass(frozen=True)
class FirstAdmin:
    """The admin ensure_admin made: a new account (with the password to print once, if it
    generated one) or an existing account promoted."""

    user: UserView
    created: bool
    generated_password: str | None


def normalize_email(email: str) -> str:
    """The canonical (lower-cased, trimmed) form of an address; raise InvalidEmail."""
    email = (email or "").strip().lower() if isinstance(email, str) else ""
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidEmail("This is not a valid email address.")
    return email


def language_for(code: str | None) -> str:
    """A person's language from a client's code ("ru-RU" -> "ru"); English for any other."""
    code = (code or "").split("-")[0].lower()
    return code if code in LANGUAGES else "en"


def register_telegram_user(telegram_id: int, *, username: str | None = None, first_name: str | None = None,
                           last_name: str | None = None, language_code: str | None = None,
                           signup_bonus: int = 0) -> tuple[UserView, bool]:
    """The user of a Telegram account, created on first contact (with the signup bonus, once) and
    kept up to date with the profile Telegram sends (a write only when something changed).
    Returns (user, created)."""
    profile = {"username": username, "first_name": first_name, "last_name": last_name,
               "language": language_for(language_code)}
    existing = User.get_or_none(User.telegram_id == telegram_id)
    if existing is None:
        try:
            with db.atomic():
                user = User.create(telegram_id=telegram_id, **profile)
                _give_signup_bonus(user.id, signup_bonus)
            return get_user(user.id), True
        except IntegrityError:
            logger.info("telegram user %s registered concurrently", telegram_id)
            existing = User.get(User.telegram_id == telegram_id)
    if any(getattr(existing, field) != value for field, value in profile.items()):
        with db.atomic():
            User.update(**profile).where(User.id == existing.id).execute()
        return get_user(existing.id), False
    return UserView.of(existing), False


def register_email_user(email: str, password: str, *, signup_bonus: int = 0) -> UserView:
    """Create a user with email and password; raise InvalidEmail, WeakPassword or EmailTaken."""
    email = normalize_email(email)
    check_strength(password)
    password_hash = hash_password(password)
    try:
        with db.atomic():
            user = User.create(email=email, password_hash=password_hash)
            _give_signup_bonus(user.id, signup_bonus)
    except IntegrityError:
        raise EmailTaken("This email is already registered.") from None
    return get_user(user.id)


def _give_signup_bonus(user_id: int, amount: int) -> None:
    if amount > 0:
        billing.move_credits(user_id, Bucket.BONUS, amount, EntryKind.SIGNUP_BONUS, note="Welcome bonus")


def authenticate(email: str, password: str) -> UserView:
    """The user with this email and password; raise InvalidCredentials or UserBlocked."""
    try:
        email = normalize_email(email)
    except InvalidEmail:
        email = ""
    user = User.get_or_none(User.email == email) if email else None
    if not verify_password(user.password_hash if user else None, password):
        raise InvalidCredentials("Wrong email or password.")
    if user.is_blocked:
        raise UserBlocked("This account is blocked.")
    return UserView.of(user)


def get_user(user_id: int) -> UserView:
    """One user by id; raise UserNotFound."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise UserNotFound()
    return UserView.of(user)


def get_user_by_telegram_id(telegram_id: int) -> UserView:
    """One user by Telegram id; raise UserNotFound."""
    user = User.get_or_none(User.telegram_id == telegram_id)
    if user is None:
        raise UserNotFound()
    return UserView.of(user)


def list_users(q: str = "", page: int = 1, per_page: int = 25) -> Page[UserView]:
    """Users matching a search (email, username, first name), oldest first."""
    return paginate(User.search(q.strip()), page, per_page, UserView.of)


def _update(user_id: int, **values) -> UserView:
    with db.atomic():
        if not User.update(**values).where(User.id == user_id).execute():
            raise UserNotFound()
    return get_user(user_id)


def block_user(user_id: int) -> UserView:
    """Block a user: no new jobs, no sign-in."""
    return _update(user_id, is_blocked=True)


def unblock_user(user_id: int) -> UserView:
    """Lift a block."""
    return _update(user_id, is_blocked=False)


def promote_to_admin(user_id: int) -> UserView:
    """Give a user the admin role."""
    return _update(user_id, is_admin=True)


def set_password(user_id: int, password: str) -> UserView:
    """Set a new password and revoke every token issued before."""
    check_strength(password)
    return _update(user_id, password_hash=hash_password(password), token_version=User.token_version + 1)


def revoke_tokens(user_id: int) -> UserView:
    """Invalidate every token issued so far (a new API key, a sign-out everywhere)."""
    return _update(user_id, token_version=User.token_version + 1)


def set_options(user_id: int, options: JobOptions | dict) -> UserView:
    """Keep the user's default output options."""
    if not isinstance(options, JobOptions):
        options = parse_options(options)
    return _update(user_id, options=options.to_json())


def ensure_admin(email: str | None = None, password: str | None = None) -> FirstAdmin | None:
    """On a database without an admin, make one: the account of `email` (default
    admin@cutout.local) if it exists, else a new one with `password` or a generated one.
    None when there is an admin already."""
    if User.select().where(User.is_admin == True).exists():  # noqa: E712 - peewee expression
        return None
    generated = None if password else generate_password()
    user, created = create_admin(email or DEFAULT_ADMIN_EMAIL, password or generated)
    return FirstAdmin(user, created, generated if created else None)


def create_admin(email: str, password: str | None) -> tuple[UserView, bool]:
    """Promote the account of `email`, or create it with `password` (required then) as an admin.
    Returns (admin, created)."""
    email = normalize_email(email)
    existing = User.get_or_none(User.email == email)
    if existing is not None:
        return promote_to_admin(existing.id), False
    if not password:
        raise WeakPassword("A new admin needs a password.")
    return promote_to_admin(register_email_user(email, password).id), True


def email_registered(email: str) -> bool:
    """True when an account has this email."""
    return User.select().where(User.email == normalize_email(email)).exists()


def count_users() -> int:
    """How many accounts there are."""
    return User.select().count()


def require_active(user_id: int) -> UserView:
    """The user, unless blocked (UserBlocked) or unknown (UserNotFound)."""
    user = get_user(user_id)
    if user.is_blocked:
        raise UserBlocked("This account is blocked.")
    return user
