"""Buying credits with Telegram Stars: packages, invoice, pre-checkout, successful payment."""

from __future__ import annotations

import asyncio
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from bot.services import PRIVATE, language_of, off_loop, services, telegram_person
from bot.texts import text
from core import accounts, billing, payments
from core.errors import PaymentNotFound, UserNotFound
from core.settings import Settings, parse_packages

logger = logging.getLogger(__name__)

CURRENCY = payments.CURRENCY  # Telegram Stars; no payment provider is involved
PAYLOAD_PREFIX = "credits"
BUY_CALLBACK = "buy"
PACKAGE_CALLBACK = "pkg"
CREDIT_RETRY_DELAYS = (0.5, 1, 2, 4, 8)  # a database restart should not cost a payer their credits


def payload_for(credits: int, stars: int) -> str:
    """The invoice payload that names a package."""
    return f"{PAYLOAD_PREFIX}:{credits}:{stars}"


def parse_payload(payload: str) -> tuple[int, int] | None:
    """(credits, stars) from an invoice payload, or None if it is not one of ours."""
    parts = (payload or "").split(":")
    if len(parts) != 3 or parts[0] != PAYLOAD_PREFIX or not all(p.isdigit() for p in parts[1:]):
        return None
    return int(parts[1]), int(parts[2])


def packages_keyboard(settings: Settings, language: str) -> InlineKeyboardMarkup:
    """One button per credit package."""
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(text(language, "buy_button", credits=credits, stars=stars),
                              callback_data=f"{PACKAGE_CALLBACK}:{credits}:{stars}")]
        for credits, stars in parse_packages(settings.credit_packages)
    ])


def buy_markup(language: str) -> InlineKeyboardMarkup:
    """A single "Buy credits" button (under a not-enough-credits message)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(text(language, "buy_credits_button"),
                                                       callback_data=BUY_CALLBACK)]])


async def buy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/buy: the credit packages as buttons."""
    language = language_of(update)
    await update.effective_message.reply_text(
        text(language, "buy_choose"), reply_markup=packages_keyboard(services(context).settings, language))


async def buy_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "Buy credits" button: show the packages, as /buy does."""
    await update.callback_query.answer()
    await buy(update, context)


async def package_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A package button: send its Stars invoice."""
    query = update.callback_query
    await query.answer()
    language = language_of(update)
    package = parse_payload(PAYLOAD_PREFIX + query.data.removeprefix(PACKAGE_CALLBACK))
    if package not in parse_packages(services(context).settings.credit_packages):
        await query.message.reply_text(text(language, "package_gone"))
        return
    credits, stars = package
    await context.bot.send_invoice(
        chat_id=query.message.chat_id,
        title=text(language, "invoice_title", credits=credits),
        description=text(language, "invoice_description", credits=credits),
        payload=payload_for(credits, stars),
        currency=CURRENCY,
        prices=[LabeledPrice(text(language, "invoice_label", credits=credits), stars)],
        provider_token="",
    )


def checkout_problem(telegram_id: int, payload: str, currency: str, amount: int, settings: Settings) -> str | None:
    """Why this checkout must be refused (a catalogue key), or None to accept it."""
    package = parse_payload(payload)
    if package is None or package not in parse_packages(settings.credit_packages):
        return "checkout_unknown_package"
    if currency != CURRENCY or amount != package[1]:
        return "checkout_unknown_package"
    try:
        user = accounts.get_user_by_telegram_id(telegram_id)
    except UserNotFound:
        return "checkout_no_user"
    return "checkout_blocked" if user.is_blocked else None


async def precheckout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pre-checkout: accept a known package for an active user, refuse anything else; answer at once."""
    query = update.pre_checkout_query
    try:
        problem = await off_loop(checkout_problem, query.from_user.id, query.invoice_payload, query.currency,
                                 query.total_amount, services(context).settings)
    except Exception:
        # Telegram waits only seconds for the answer: refuse now rather than leave the payer hanging.
        await query.answer(ok=False, error_message=text(language_of(update), "try_again"))
        raise
    if problem is None:
        await query.answer(ok=True)
    else:
        logger.info("refused checkout %s of telegram user %s: %s", query.invoice_payload, query.from_user.id, problem)
        await query.answer(ok=False, error_message=text(language_of(update), problem))


def credit_payment(update: Update, signup_bonus: int) -> billing.TopUp:
    """Add the package's credits once per Telegram charge id (a repeat credits nothing). A payer
    who never wrote to us gets an account: the money is real, so is the account."""
    payment = update.effective_message.successful_payment
    credits, price = parse_payload(payment.invoice_payload)
    user, _ = telegram_person(update, signup_bonus)
    return payments.credit_purchase(user.id, payment.telegram_payment_charge_id, credits, currency=payment.currency,
                                    paid=payment.total_amount, price=price)


async def credit_with_retries(update: Update, signup_bonus: int) -> billing.TopUp:
    """credit_payment, tried again with a growing pause (it is idempotent per charge id)."""
    charge_id = update.effective_message.successful_payment.telegram_payment_charge_id
    for delay in CREDIT_RETRY_DELAYS:
        try:
            return await off_loop(credit_payment, update, signup_bonus)
        except Exception as exc:
            logger.warning("crediting payment %s failed (%s); trying again in %s s", charge_id, exc, delay)
            await asyncio.sleep(delay)
    return await off_loop(credit_payment, update, signup_bonus)


async def successful_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A successful payment: credit the package exactly once per telegram_payment_charge_id."""
    language = language_of(update)
    payment = update.effective_message.successful_payment
    charge_id = payment.telegram_payment_charge_id
    package = parse_payload(payment.invoice_payload)
    if package is None:
        logger.error("payment %s has an unknown payload %r", charge_id, payment.invoice_payload)
        await update.effective_message.reply_text(text(language, "payment_unknown", charge_id=charge_id))
        return
    credits = package[0]
    try:
        result = await credit_with_retries(update, services(context).settings.signup_bonus_credits)
    except Exception:
        # Telegram will not send this update again: reconciliation with getStarTransactions credits it.
        logger.critical("payment %s of telegram user %s (%s credits) could NOT be credited", charge_id,
                        update.effective_user.id, credits, exc_info=True)
        await update.effective_message.reply_text(text(language, "payment_pending", charge_id=charge_id))
        return
    if not result.credited:
        logger.info("payment %s was already credited; ignoring the repeat", charge_id)
        return
    logger.info("payment %s credited %s credits to telegram user %s", charge_id, credits, update.effective_user.id)
    await update.effective_message.reply_text(text(language, "payment_done", credits=credits,
                                                   total=result.balance.total))


async def refunded_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A payment refunded in Telegram (by us or elsewhere): take its credits back, once."""
    charge_id = update.effective_message.refunded_payment.telegram_payment_charge_id
    try:
        refund, recorded = await off_loop(payments.record_refund, charge_id, "refunded_payment from Telegram")
    except PaymentNotFound:
        logger.error("Telegram refunded payment %s, which is not in the ledger", charge_id)
        return
    if recorded:
        await update.effective_message.reply_text(text(language_of(update), "payment_refunded", charge_id=charge_id,
                                                       credits=refund.taken))


def register(application: Application) -> None:
    """Wire /buy, the package buttons and the payment updates."""
    application.add_handler(CommandHandler("buy", buy, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(buy_button, pattern=f"^{BUY_CALLBACK}$"))
    application.add_handler(CallbackQueryHandler(package_chosen, pattern=rf"^{PACKAGE_CALLBACK}:\d+:\d+$"))
    application.add_handler(PreCheckoutQueryHandler(precheckout))
    # Any chat: the money is real wherever the invoice was paid.
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.SUCCESSFUL_PAYMENT,
                                           successful_payment))
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.StatusUpdate.REFUNDED_PAYMENT,
                                           refunded_payment))
