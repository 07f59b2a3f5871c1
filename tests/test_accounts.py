import pytest

from core import accounts, billing
from core.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidOptions,
    UserBlocked,
    UserNotFound,
    WeakPassword,
)
from core.models import Transaction

GOOD_PASSWORD = "correct-horse-42"


def test_registering_a_telegram_user_gives_the_signup_bonus(settings):
    user, created = accounts.register_telegram_user(1001, username="ann", language_code="ru-RU", signup_bonus=3)
    assert created
    assert user.balance.bonus == 3 and user.balance.paid == 0
    assert user.language == "ru"


def test_a_telegram_id_beyond_32_bits_is_registered(settings):
    # Telegram ids have up to 52 significant bits; newer accounts are past 2**31.
    user, created = accounts.register_telegram_user(7_123_456_789, signup_bonus=3)
    assert created
    assert accounts.get_user_by_telegram_id(7_123_456_789).id == user.id


def test_registering_the_same_telegram_user_twice_gives_the_bonus_once(settings):
    first, _ = accounts.register_telegram_user(1001, signup_bonus=3)
    again, created = accounts.register_telegram_user(1001, username="renamed", signup_bonus=3)
    assert not created
    assert again.id == first.id
    assert again.username == "renamed"
    assert again.balance.total == 3
    assert Transaction.select().where(Transaction.kind == "signup_bonus").count() == 1


def test_unknown_language_falls_back_to_english(settings):
    user, _ = accounts.register_telegram_user(1002, language_code="de")
    assert user.language == "en"


def test_register_by_email_stores_a_lower_cased_address_and_a_hash(settings):
    user = accounts.register_email_user(" Ann@Example.COM ", GOOD_PASSWORD, signup_bonus=2)
    assert user.email == "ann@example.com"
    assert user.balance.bonus == 2
    from core.models import User
    assert User.get_by_id(user.id).password_hash.startswith("scrypt:")


def test_duplicate_email_is_refused_whatever_its_case(settings):
    accounts.register_email_user("ann@example.com", GOOD_PASSWORD)
    with pytest.raises(EmailTaken):
        accounts.register_email_user("ANN@example.com", GOOD_PASSWORD)


@pytest.mark.parametrize("email", ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", None])
def test_bad_email_is_refused(settings, email):
    with pytest.raises(InvalidEmail):
        accounts.register_email_user(email, GOOD_PASSWORD)


@pytest.mark.parametrize("password", ["", "short1", "password1", "abcdefghij", "1234567890", "aaaaaaaa1"])
def test_weak_password_is_refused_and_nothing_is_written(settings, password):
    with pytest.raises(WeakPassword):
        accounts.register_email_user("ann@example.com", password)
    assert accounts.list_users().total == 0


def test_authenticate_accepts_the_right_password(settings):
    user = accounts.register_email_user("ann@example.com", GOOD_PASSWORD)
    assert accounts.authenticate("ANN@example.com", GOOD_PASSWORD).id == user.id


@pytest.mark.parametrize("email,password", [("ann@example.com", "wrong-password-1"),
                                            ("bob@example.com", GOOD_PASSWORD), ("not-an-email", GOOD_PASSWORD)])
def test_authenticate_refuses_wrong_credentials_alike(settings, email, password):
    accounts.register_email_user("ann@example.com", GOOD_PASSWORD)
    with pytest.raises(InvalidCredentials, match="Wrong email or password"):
        accounts.authenticate(email, password)


def test_a_telegram_only_user_cannot_sign_in_by_password(settings):
    accounts.register_telegram_user(1001)
    with pytest.raises(InvalidCredentials):
        accounts.authenticate("", "")


def test_blocked_user_cannot_sign_in_until_unblocked(settings):
    user = accounts.register_email_user("ann@example.com", GOOD_PASSWORD)
    assert accounts.block_user(user.id).is_blocked
    with pytest.raises(UserBlocked):
        accounts.authenticate("ann@example.com", GOOD_PASSWORD)
    accounts.unblock_user(user.id)
    assert accounts.authenticate("ann@example.com", GOOD_PASSWORD).id == user.id


def test_promote_to_admin(settings):
    user = accounts.register_email_user("ann@example.com", GOOD_PASSWORD)
    assert not user.is_admin
    assert accounts.promote_to_admin(user.id).is_admin


def test_set_password_revokes_earlier_tokens_and_keys(settings):
    user = accounts.register_email_user("ann@example.com", GOOD_PASSWORD)
    changed = accounts.set_password(user.id, "another-secret-7")
    assert (changed.token_version, changed.key_version) == (user.token_version + 1, user.key_version + 1)
    assert accounts.authenticate("ann@example.com", "another-secret-7").id == user.id


def test_services_on_a_missing_user_raise_user_not_found(settings):
    for call in (accounts.get_user, accounts.block_user, accounts.promote_to_admin, billing.balance):
        with pytest.raises(UserNotFound):
            call(999)


def test_options_are_kept_per_user(settings):
    user, _ = accounts.register_telegram_user(1001)
    assert user.options.mode == "png"
    updated = accounts.set_options(user.id, {"mode": "color", "bg_color": "FF0000", "crop": "on"})
    assert (updated.options.mode, updated.options.bg_color, updated.options.crop) == ("color", "#ff0000", True)
    with pytest.raises(InvalidOptions):
        accounts.set_options(user.id, {"mode": "gif"})


def test_list_users_searches_and_pages(settings):
    for n in range(5):
        accounts.register_telegram_user(2000 + n, username=f"user{n}")
    accounts.register_email_user("zed@example.com", GOOD_PASSWORD)
    page = accounts.list_users(page=2, per_page=2)
    assert [u.username for u in page.items] == ["user2", "user3"]
    assert page.total == 6 and page.pages == 3
    assert [u.email for u in accounts.list_users("ZED").items] == ["zed@example.com"]


def test_a_telegram_profile_is_kept_up_to_date_on_each_contact(settings):
    accounts.register_telegram_user(3001, username="old", first_name="Ann", language_code="en", signup_bonus=3)
    user, created = accounts.register_telegram_user(3001, username="new", first_name="Ann", last_name="Lee",
                                                    language_code="ru-RU", signup_bonus=3)
    assert not created
    assert (user.username, user.last_name, user.language) == ("new", "Lee", "ru")
    assert user.balance.bonus == 3  # the bonus once


@pytest.mark.parametrize(("code", "language"), [("ru", "ru"), ("ru-RU", "ru"), ("en-GB", "en"), ("de", "en"),
                                                 (None, "en"), ("", "en")])
def test_a_persons_language_comes_from_their_clients_code(code, language):
    assert accounts.language_for(code) == language


def test_the_first_admin_is_made_once_with_a_printed_password(settings):
    made = accounts.ensure_admin()
    assert made.created and made.user.is_admin and made.user.email == accounts.DEFAULT_ADMIN_EMAIL
    assert accounts.authenticate(made.user.email, made.generated_password).id == made.user.id
    assert accounts.ensure_admin() is None  # there is an admin now
