"""Telegram Stars purchases in the ledger: each charge credited once, refunded at most once.

A purchase is the top-up whose payment id is Telegram's charge id; its refund is the entry whose
payment id is "refund:<charge id>", so the ledger's unique payment ids guard both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from peewee import IntegrityError

from core import billing, bot_api
from core.db import db
from core.enums import Bucket, EntryKind
from core.errors import AlreadyRefunded, PaymentNotFound
from core.models import Transaction, User
from core.settings import Settings
from core.views import LedgerEntry

logger = logging.getLogger(__name__)

CURRENCY = "XTR"  # Telegram Stars
REFUND_PREFIX = "refund:"
RECONCILED = "found by reconciliation"


@dataclass(frozen=True)
class Purchase:
    charge_id: str
    user_id: int
    telegram_id: int | None
    credits: int
    note: str | None
    created_at: datetime
    refund: Refund | None


@dataclass(frozen=True)
class Refund:
    charge_id: str
    credits: int  # what the purchase added
    taken: int  # what the refund took back (what was left of the paid credits)
    note: str | None
    created_at: datetime

    @property
    def shortfall(self) -> int:
        """Credits of the purchase already spent when it was refunded."""
        return self.credits - self.taken


def credit_purchase(user_id: int, charge_id: str, credits: int, *, currency: str, paid: int, price: int,
                    reconciled: bool = False) -> billing.TopUp:
    """Credit a package once per charge id. What was paid is checked against the package: a
    mismatch is logged and written on the ledger entry, and the package is credited (the money
    was taken)."""
    note = f"Telegram Stars ({charge_id})"
    if reconciled:
        note += f", {RECONCILED}"
    if currency != CURRENCY or paid != price:
        logger.error("payment %s paid %s %s for a package of %s %s; crediting it as paid", charge_id, paid,
                     currency, price, CURRENCY)
        note += f"; paid {paid} {currency}, the package costs {price} {CURRENCY}"
    return billing.top_up(user_id, credits, payment_id=charge_id, note=note)


def purchase(charge_id: str) -> Purchase:
    """The Stars purchase with this charge id, and its refund if there is one; PaymentNotFound."""
    row = (Transaction.select(Transaction, User.id, User.telegram_id).join(User)
           .where(Transaction.payment_id == charge_id, Transaction.kind == EntryKind.TOPUP).first())
    if row is None or not charge_id or charge_id.startswith(REFUND_PREFIX):
        raise PaymentNotFound(f"There is no payment {charge_id!r}.")
    refund = Transaction.get_or_none(Transaction.payment_id == REFUND_PREFIX + charge_id)
    return Purchase(charge_id, row.user.id, row.user.telegram_id, row.amount, row.note, row.created_at,
                    None if refund is None else _refund_of(refund, row.amount))


def refundable(charge_id: str) -> Purchase:
    """The purchase, if it may be refunded; PaymentNotFound, AlreadyRefunded."""
    found = purchase(charge_id)
    if found.refund is not None:
        raise AlreadyRefunded(f"Payment {charge_id} was already refunded on {found.refund.created_at:%Y-%m-%d}.")
    return found


def refund(settings: Settings, charge_id: str, by: str) -> Refund:
    """Give a Stars payment back through Telegram (refundStarPayment), then take its credits back
    in the ledger. A payment already refunded, here or elsewhere, is AlreadyRefunded: the ledger
    catches up when Telegram says so, and nothing is taken twice."""
    found = refundable(charge_id)
    if found.telegram_id is None:
        raise PaymentNotFound(f"Payment {charge_id} was not made with Telegram Stars.")
    try:
        bot_api.call(settings, "refundStarPayment", user_id=found.telegram_id, telegram_payment_charge_id=charge_id)
    except bot_api.TelegramRefused as exc:
        if "ALREADY_REFUNDED" not in exc.description.upper():
            raise
        record_refund(charge_id, "refunded in Telegram before")
        raise AlreadyRefunded(f"Payment {charge_id} was already refunded in Telegram.") from exc
    return record_refund(charge_id, by)[0]


def record_refund(charge_id: str, by: str) -> tuple[Refund, bool]:
    """Write a refund into the ledger: take back what is left of the purchase's credits (never
    below zero; the rest is the shortfall). Returns (refund, recorded): recorded is False when
    this refund was already in the ledger (Telegram tells us of a refund we made ourselves)."""
    found = purchase(charge_id)
    if found.refund is not None:
        return found.refund, False
    try:
        with db.atomic():
            billing.lock_user(found.user_id)
            taken = min(found.credits, billing.balance(found.user_id).paid)
            note = f"Telegram Stars refund of {charge_id} ({by}): took back {taken} of {found.credits} credit(s)"
            if taken < found.credits:
                note += f"; {found.credits - taken} already spent"
            row = billing.move_credits(found.user_id, Bucket.PAID, -taken, EntryKind.PAYMENT_REFUND,
                                       payment_id=REFUND_PREFIX + charge_id, note=note)
    except IntegrityError:
        logger.info("refund of %s was recorded concurrently", charge_id)
        return purchase(charge_id).refund, False
    logger.info("payment %s refunded (%s): %s of %s credits taken back", charge_id, by, taken, found.credits)
    return _refund_of(row, found.credits), True


def refundable_among(entries: list[LedgerEntry]) -> set[str]:
    """The charge ids of the Stars purchases among these ledger entries that have no refund yet."""
    charges = {e.payment_id for e in entries if e.kind == EntryKind.TOPUP and e.payment_id}
    if not charges:
        return set()
    refunded = Transaction.select(Transaction.payment_id).where(
        Transaction.payment_id.in_([REFUND_PREFIX + charge for charge in charges]))
    stars = (Transaction.select(Transaction.payment_id).join(User)
             .where(Transaction.payment_id.in_(charges), User.telegram_id.is_null(False)))
    return {row.payment_id for row in stars} - {row.payment_id.removeprefix(REFUND_PREFIX) for row in refunded}


def reconciled_payments(limit: int = 10) -> tuple[int, list[LedgerEntry]]:
    """How many payments reconciliation found, and the latest `limit` of them."""
    query = Transaction.select().where(Transaction.kind == EntryKind.TOPUP,
                                       Transaction.note.contains(RECONCILED))
    return query.count(), [LedgerEntry.of(row) for row in query.order_by(Transaction.id.desc()).limit(limit)]


def refund_excesses() -> list[tuple[int, str]]:
    """(user id, problem) for every refund that took back more than its purchase added, or that
    has no purchase: the ledger check reports them."""
    problems = []
    for row in Transaction.select().where(Transaction.kind == EntryKind.PAYMENT_REFUND):
        charge_id = (row.payment_id or "").removeprefix(REFUND_PREFIX)
        bought = Transaction.get_or_none(Transaction.payment_id == charge_id, Transaction.kind == EntryKind.TOPUP)
        if bought is None:
            problems.append((row.user_id, f"refund {row.id} ({row.payment_id}) has no purchase"))
        elif -row.amount > bought.amount or row.amount > 0 or bought.user_id != row.user_id:
            problems.append((row.user_id, f"refund {row.id} took back {-row.amount} credit(s) of purchase "
                                          f"{charge_id}, which added {bought.amount} to user {bought.user_id}"))
    return problems


def _refund_of(row: Transaction, credits: int) -> Refund:
    return Refund(row.payment_id.removeprefix(REFUND_PREFIX), credits, -row.amount, row.note, row.created_at)
