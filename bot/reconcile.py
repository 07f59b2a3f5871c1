"""Reconciliation with Telegram's own record of Stars: a payment whose update never reached a
handler (a crash, an OOM kill or a deploy between getUpdates and the handler) is still credited,
and a refund made elsewhere is still taken back.

At start and every PAYMENT_RECONCILE_SECONDS the bot pages through getStarTransactions. Every
incoming payment from a user with one of our invoice payloads is credited unless its charge id
is in the ledger already (the unique payment id makes the update and reconciliation, in any order
or at once, credit it once); every outgoing transaction to a user whose id is one of our
purchases is recorded as its refund, once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from telegram import Bot, StarTransaction, TransactionPartnerUser
from telegram.error import TelegramError

from bot.payments import CURRENCY, parse_payload
from bot.services import off_loop
from bot.texts import text
from core import accounts, payments
from core.errors import PaymentNotFound
from core.settings import Settings

logger = logging.getLogger(__name__)

PAGE = 100  # the most getStarTransactions returns at once


@dataclass(frozen=True)
class Found:
    """A payment or refund reconciliation wrote into the ledger, and whom to tell."""

    telegram_id: int
    language: str
    key: str  # the message's catalogue key
    values: dict


class Reconciler:
    """Pages through the bot's Star transactions; remembers how far it has read (Telegram lists
    them in chronological order, so later rounds start one page before where the last ended)."""

    def __init__(self, bot: Bot, settings: Settings):
        self.bot = bot
        self.settings = settings
        self.read = 0

    async def run(self, interval: float) -> None:
        """Reconcile now and then every `interval` seconds, until cancelled."""
        while True:
            try:
                await self.once()
            except Exception:
                logger.exception("payment reconciliation failed; trying again in %s s", interval)
            await asyncio.sleep(interval)

    async def once(self) -> int:
        """One round; returns how many payments and refunds it wrote into the ledger."""
        start = max(0, self.read - PAGE)
        written = 0 if start == 0 else (await self._page(0))[1]  # a newest-first listing is covered too
        offset = start
        while True:
            count, page_written = await self._page(offset)
            written += page_written
            offset += count
            if count < PAGE:
                break
        self.read = offset
        return written

    async def _page(self, offset: int) -> tuple[int, int]:
        """(transactions read, entries written) of the page at `offset`."""
        page = await self.bot.get_star_transactions(offset=offset, limit=PAGE)
        written = 0
        for transaction in page.transactions:
            found = await off_loop(settle, transaction, self.settings.signup_bonus_credits)
            if found is not None:
                written += 1
                await self._tell(found)
        return len(page.transactions), written

    async def _tell(self, found: Found) -> None:
        try:
            await self.bot.send_message(found.telegram_id, text(found.language, found.key, **found.values))
        except TelegramError as exc:  # the ledger is right; the message is a courtesy
            logger.info("could not tell telegram user %s about %s: %s", found.telegram_id, found.key, exc)


def settle(transaction: StarTransaction, signup_bonus: int) -> Found | None:
    """Write one transaction into the ledger if it is ours and missing (blocking)."""
    if isinstance(transaction.source, TransactionPartnerUser):
        return _payment(transaction, transaction.source, signup_bonus)
    if isinstance(transaction.receiver, TransactionPartnerUser):
        return _refund(transaction, transaction.receiver)
    return None


def _payment(transaction: StarTransaction, payer: TransactionPartnerUser, signup_bonus: int) -> Found | None:
    package = parse_payload(payer.invoice_payload)
    if package is None:
        return None  # not one of our invoices
    credits, price = package
    person = payer.user
    user, _ = accounts.register_telegram_user(person.id, username=person.username, first_name=person.first_name,
                                              last_name=person.last_name, language_code=person.language_code,
                                              signup_bonus=signup_bonus)
    result = payments.credit_purchase(user.id, transaction.id, credits, currency=CURRENCY, paid=transaction.amount,
                                      price=price, reconciled=True)
    if not result.credited:
        return None
    logger.warning("payment %s of telegram user %s (%s credits) was found by reconciliation: its update was lost",
                   transaction.id, person.id, credits)
    return Found(person.id, user.language, "payment_reconciled",
                 {"charge_id": transaction.id, "credits": credits, "total": result.balance.total})


def _refund(transaction: StarTransaction, payee: TransactionPartnerUser) -> Found | None:
    try:
        refund, recorded = payments.record_refund(transaction.id, payments.RECONCILED)
    except PaymentNotFound:
        return None  # not a refund of one of our purchases
    if not recorded:
        return None
    logger.warning("refund of payment %s was found by reconciliation", transaction.id)
    return Found(payee.user.id, accounts.language_for(payee.user.language_code), "payment_refunded",
                 {"charge_id": transaction.id, "credits": refund.taken})
