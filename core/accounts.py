"""Users: registration, sign-in, roles, blocking and preferences."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from peewee import IntegrityError

from core import billing
from core.db import db
from core.enums import Bucket, EntryKind
from core.errors import (
    AccountExists,
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    UserBlocked,
    UserNotFound,
    WeakPassword,
    WrongPassword,
)
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


def demote_admin(user_id: int) -> UserView:
    """Take the admin role away (core.admin.demote keeps the last admin)."""
    return _update(user_id, is_admin=False)


def set_password(user_id: int, password: str) -> UserView:
    """Set a new password and revoke every token and API key issued before."""
    check_strength(password)
    return _update(user_id, password_hash=hash_password(password), must_change_password=False,
                   token_version=User.token_version + 1, key_version=User.key_version + 1)


def change_password(user_id: int, current: str, new: str) -> UserView:
    """A signed-in person's new password, given the current one (WrongPassword otherwise);
    every token and API key issued before stops working."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise UserNotFound()
    if not verify_password(user.password_hash, current):
        raise WrongPassword("The current password is wrong.")
    if verify_password(user.password_hash, new):
        raise WeakPassword("The new password must differ from the current one.")
    return set_password(user_id, new)


def revoke_tokens(user_id: int) -> UserView:
    """End every sign-in (browser and API tokens) issued so far: signing out. API keys stay."""
    return _update(user_id, token_version=User.token_version + 1)


def revoke_keys(user_id: int) -> UserView:
    """Invalidate every token and API key issued so far (a new API key replaces the old ones)."""
    return _update(user_id, token_version=User.token_version + 1, key_version=User.key_version + 1)


def set_options(user_id: int, options: JobOptions | dict) -> UserView:
    """Keep the user's default output options."""
    if not isinstance(options, JobOptions):
        options = parse_options(options)
    return _update(user_id, options=options.to_json())


def ensure_admin(email: str | None = None, password: str | None = None) -> FirstAdmin | None:
    """On a database without an admin, make one: a new account for `email` (default
    admin@cutout.local) with `password`, or with a generated one that must be changed at the
    first sign-in. An existing account of that email is not taken over (AccountExists).
    None when there is an admin already."""
    if User.select().where(User.is_admin == True).exists():  # noqa: E712 - peewee expression
        return None
    generated = None if password else generate_password()
    user, _ = create_admin(email or DEFAULT_ADMIN_EMAIL, password or generated)
    if generated:
        user = _update(user.id, must_change_password=True)
    return FirstAdmin(user, True, generated)


def admin_candidate(email: str, *, promote_existing: bool = False) -> str:
    """What making `email` an admin would do: "admin" (it is one), "new" (a new account) or
    "promote" (an existing account, only with `promote_existing`: whoever registered an address
    first must not become an admin by it; AccountExists otherwise)."""
    existing = User.get_or_none(User.email == normalize_email(email))
    if existing is None:
        return "new"
    if existing.is_admin:
        return "admin"
    if not promote_existing:
        raise AccountExists(f"{existing.email} is already registered by someone. Check that the account is "
                            "yours, then pass --promote-existing: it becomes an admin with a new password.")
    return "promote"


def create_admin(email: str, password: str | None, *, promote_existing: bool = False) -> tuple[UserView, bool]:
    """Create a new admin with `password`; an existing account only with `promote_existing`
    (see admin_candidate), which then gets the new `password` and loses every sign-in it held.
    An existing admin stays as it is. Returns (admin, created)."""
    email = normalize_email(email)
    found = admin_candidate(email, promote_existing=promote_existing)
    if found == "admin":
        return UserView.of(User.get(User.email == email)), False
    if not password:
        raise WeakPassword("A new admin needs a password.")
    if found == "promote":
        user_id = User.get(User.email == email).id
        with db.atomic():
            set_password(user_id, password)
            return promote_to_admin(user_id), False
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
