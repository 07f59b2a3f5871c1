"""Credits: every move is a conditional UPDATE plus its ledger row, in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from peewee import IntegrityError

from core.db import db, for_update
from core.enums import Bucket, EntryKind, EntryStatus
from core.errors import InsufficientCredits, InvalidAmount, ReasonRequired, UserNotFound
from core.models import Transaction, User
from core.views import Balance, LedgerEntry, Page, paginate

logger = logging.getLogger(__name__)

BUCKETS = {Bucket.BONUS: User.bonus_credits, Bucket.PAID: User.paid_credits}
# Buckets are 32-bit columns on PostgreSQL: one move stays far below that, and a larger one is a
# named error instead of the database's "integer out of range".
MAX_MOVE = 1_000_000


@dataclass(frozen=True)
class TopUp:
    balance: Balance
    credited: bool  # False when this payment id had already been credited


def balance(user_id: int) -> Balance:
    """The user's bonus and paid credits."""
    row = User.select(User.bonus_credits, User.paid_credits).where(User.id == user_id).first()
    if row is None:
        raise UserNotFound()
    return Balance(row.bonus_credits, row.paid_credits)


def top_up(user_id: int, credits: int, payment_id: str, note: str | None = None) -> TopUp:
    """Add paid credits once per external payment id; a repeat credits nothing."""
    if not _whole(credits) or credits <= 0:
        raise InvalidAmount("A top-up must be a positive whole number of credits (at most a million).")
    if not payment_id:
        raise InvalidAmount("A top-up needs the payment's id.")
    try:
        with db.atomic():
            if Transaction.select().where(Transaction.payment_id == payment_id).exists():
                return TopUp(balance(user_id), credited=False)
            move_credits(user_id, Bucket.PAID, credits, EntryKind.TOPUP, payment_id=payment_id, note=note)
            return TopUp(balance(user_id), credited=True)
    except IntegrityError:
        # Another process credited the same payment between our check and insert.
        logger.info("payment %s was credited concurrently", payment_id)
        return TopUp(balance(user_id), credited=False)


def adjust_credits(user_id: int, amount: int, reason: str, bucket: str = Bucket.BONUS) -> Balance:
    """An admin's correction with a reason: positive adds to `bucket`, negative takes bonus first."""
    if not _whole(amount) or amount == 0:
        raise InvalidAmount("The adjustment must be a non-zero whole number of credits (at most a million).")
    if not isinstance(bucket, str) or bucket not in BUCKETS:
        raise InvalidAmount("The bucket must be bonus or paid.")
    if not reason or not reason.strip():
        raise ReasonRequired("Say why the credits are adjusted.")
    with db.atomic():
        if amount > 0:
            move_credits(user_id, bucket, amount, EntryKind.ADJUSTMENT, note=reason.strip())
        else:
            take_credits(user_id, -amount, EntryKind.ADJUSTMENT, note=reason.strip())
        return balance(user_id)


def _whole(amount) -> bool:
    """An int (not a bool) of at most MAX_MOVE credits either way."""
    return isinstance(amount, int) and not isinstance(amount, bool) and abs(amount) <= MAX_MOVE


def ledger(user_id: int, page: int = 1, per_page: int = 20) -> Page[LedgerEntry]:
    """The user's ledger, newest first."""
    return paginate(Transaction.for_user(user_id), page, per_page, LedgerEntry.of)


def all_transactions(page: int = 1, per_page: int = 50, kind: str | None = None) -> Page[LedgerEntry]:
    """Every ledger row, newest first (admin)."""
    query = Transaction.select().order_by(Transaction.id.desc())
    if kind:
        query = query.where(Transaction.kind == kind)
    return paginate(query, page, per_page, LedgerEntry.of)


def move_credits(user_id: int, bucket: str, amount: int, kind: str, *, job=None, payment_id=None,
                 note=None, status: str = EntryStatus.COMPLETED) -> Transaction:
    """Add (or with a negative amount, take) credits in one bucket; never below zero. Call inside a transaction."""
    field = BUCKETS[bucket]
    query = (
        User.update({field: field + amount})
        .where(User.id == user_id, field + amount >= 0)
        .returning(field)
        .tuples()
    )
    rows = list(query.execute())
    if not rows:
        _raise_for(user_id, "Not enough credits.")
    return Transaction.create(user=user_id, kind=kind, amount=amount, bucket=bucket, status=status,
                              balance_after=rows[0][0], job=job, payment_id=payment_id, note=note)


def take_credits(user_id: int, amount: int, kind: str, *, job=None, note=None,
                 status: str = EntryStatus.COMPLETED) -> list[Transaction]:
    """Take `amount` credits, bonus bucket first, never below zero. Call inside a transaction."""
    # The row lock makes the split exact; the guarded UPDATE keeps the buckets
    # non-negative whatever happens.
    from_bonus = min(lock_user(user_id).bonus_credits, amount)
    from_paid = amount - from_bonus
    query = (
        User.update(bonus_credits=User.bonus_credits - from_bonus, paid_credits=User.paid_credits - from_paid)
        .where(User.id == user_id, User.bonus_credits >= from_bonus, User.paid_credits >= from_paid)
        .returning(User.bonus_credits, User.paid_credits)
        .tuples()
    )
    rows = list(query.execute())
    if not rows:
        raise InsufficientCredits(f"This needs {amount} credit(s).")
    bonus_after, paid_after = rows[0]
    entries = []
    for bucket, taken, after in ((Bucket.BONUS, from_bonus, bonus_after), (Bucket.PAID, from_paid, paid_after)):
        if taken:
            entries.append(Transaction.create(user=user_id, kind=kind, amount=-taken, bucket=bucket,
                                              status=status, balance_after=after, job=job, note=note))
    return entries


def lock_user(user_id: int) -> User:
    """Lock the user's row until the transaction ends (FOR UPDATE on PostgreSQL; SQLite's
    IMMEDIATE transactions already serialise writers); raise UserNotFound.

    Take it before writing rows that reference the user: an insert's foreign-key check
    share-locks the row, and two such holders both upgrading would deadlock."""
    user = for_update(User.select(User.id, User.bonus_credits).where(User.id == user_id)).first()
    if user is None:
        raise UserNotFound()
    return user


def _raise_for(user_id: int, message: str) -> None:
    if not User.select().where(User.id == user_id).exists():
        raise UserNotFound()
    raise InsufficientCredits(message)
