import pytest

from core import accounts, billing
from core.audit import check_ledger
from core.db import db
from core.errors import InsufficientCredits, InvalidAmount, ReasonRequired, UserNotFound
from core.models import Transaction, User


@pytest.fixture
def user(settings):
    user, _ = accounts.register_telegram_user(1001, signup_bonus=3)
    return user


def test_top_up_adds_paid_credits_with_a_ledger_row(user):
    result = billing.top_up(user.id, 10, payment_id="charge-1")
    assert result.credited
    assert result.balance == billing.balance(user.id)
    assert (result.balance.bonus, result.balance.paid) == (3, 10)
    row = Transaction.get(Transaction.payment_id == "charge-1")
    assert (row.kind, row.amount, row.bucket, row.balance_after) == ("topup", 10, "paid", 10)


def test_the_same_payment_id_twice_credits_once(user):
    billing.top_up(user.id, 10, payment_id="charge-1")
    again = billing.top_up(user.id, 10, payment_id="charge-1")
    assert not again.credited
    assert again.balance.paid == 10
    assert Transaction.select().where(Transaction.kind == "topup").count() == 1


@pytest.mark.parametrize("credits", [0, -5, 1.5, True, 3_000_000_000])
def test_top_up_refuses_a_non_positive_amount(user, credits):
    with pytest.raises(InvalidAmount):
        billing.top_up(user.id, credits, payment_id="x")


def test_top_up_needs_a_payment_id(user):
    with pytest.raises(InvalidAmount):
        billing.top_up(user.id, 5, payment_id="")


def test_top_up_of_a_missing_user_writes_nothing(settings):
    with pytest.raises(UserNotFound):
        billing.top_up(999, 5, payment_id="p")
    assert Transaction.select().count() == 0


def test_charge_takes_bonus_credits_first(user):
    billing.top_up(user.id, 10, payment_id="p1")
    with db.atomic():
        rows = billing.take_credits(user.id, 5, "charge")
    assert [(r.bucket, r.amount, r.balance_after) for r in rows] == [("bonus", -3, 0), ("paid", -2, 8)]
    assert billing.balance(user.id).total == 8


def test_top_up_then_charge_leaves_exactly_the_expected_balance(user):
    billing.top_up(user.id, 7, payment_id="p1")
    with db.atomic():
        billing.take_credits(user.id, 4, "charge")
    assert (billing.balance(user.id).bonus, billing.balance(user.id).paid) == (0, 6)
    assert check_ledger() == []


def test_a_zero_balance_never_goes_negative(user):
    with db.atomic():
        billing.take_credits(user.id, 3, "charge")
    with pytest.raises(InsufficientCredits), db.atomic():
        billing.take_credits(user.id, 1, "charge")
    assert billing.balance(user.id).total == 0
    assert Transaction.select().where(Transaction.kind == "charge").count() == 1


def test_the_database_refuses_a_negative_bucket(user):
    with pytest.raises(Exception), db.atomic():  # noqa: B017 - the driver's IntegrityError differs
        User.update(bonus_credits=-1).where(User.id == user.id).execute()
    assert billing.balance(user.id).bonus == 3


def test_admin_adjustment_adds_with_a_reason(user):
    balance = billing.adjust_credits(user.id, 5, "goodwill")
    assert balance.bonus == 8
    row = Transaction.get(Transaction.kind == "adjustment")
    assert (row.amount, row.note) == (5, "goodwill")


def test_negative_adjustment_takes_bonus_then_paid(user):
    billing.top_up(user.id, 10, payment_id="p1")
    balance = billing.adjust_credits(user.id, -5, "chargeback")
    assert (balance.bonus, balance.paid) == (0, 8)
    assert check_ledger() == []


def test_negative_adjustment_never_goes_below_zero(user):
    with pytest.raises(InsufficientCredits):
        billing.adjust_credits(user.id, -4, "too much")
    assert billing.balance(user.id).total == 3


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_adjustment_requires_a_reason(user, reason):
    with pytest.raises(ReasonRequired):
        billing.adjust_credits(user.id, 5, reason)


@pytest.mark.parametrize("amount", [0, 2.5, True, 3_000_000_000, -3_000_000_000])
def test_adjustment_must_be_a_non_zero_whole_number(user, amount):
    with pytest.raises(InvalidAmount):
        billing.adjust_credits(user.id, amount, "why")


def test_ledger_is_paginated_newest_first_and_only_the_users_own(user):
    other, _ = accounts.register_telegram_user(1002, signup_bonus=3)
    for n in range(3):
        billing.top_up(user.id, 1, payment_id=f"p{n}")
    page = billing.ledger(user.id, page=1, per_page=2)
    assert page.total == 4 and page.pages == 2
    assert [e.payment_id for e in page.items] == ["p2", "p1"]
    assert {e.user_id for e in billing.ledger(other.id).items} == {other.id}
