"""Plain commands: /start, /help, /balance, /history, /cancel, /paysupport, /apikey, /web."""

from __future__ import annotations

import html
import logging

from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from bot.services import PRIVATE, current_user, language_of, off_loop, register_person, services
from bot.texts import CATALOGUE, text
from core import billing, jobs, tokens
from core.errors import UserBlocked
from core.views import JobView, LedgerEntry

logger = logging.getLogger(__name__)

MENU = ("start", "help", "balance", "buy", "settings", "stickers", "history", "cancel", "apikey", "web",
        "paysupport")
HISTORY_JOBS = 5
HISTORY_ENTRIES = 8


def menu(language: str) -> list[BotCommand]:
    """The command menu in one language (for setMyCommands)."""
    return [BotCommand(name, text(language, f"cmd_{name}")) for name in MENU]


async def set_menus(application: Application) -> None:
    """Publish the command menu: English as the default, and each other language for its users."""
    await application.bot.set_my_commands(menu("en"))
    for language in CATALOGUE:
        if language != "en":
            await application.bot.set_my_commands(menu(language), language_code=language)


def _usage(language: str, price: int) -> str:
    return text(language, "usage", price=price)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: register once (with the signup bonus), greet with the balance and how to use the bot."""
    settings = services(context).settings
    language = language_of(update)
    user, created = await register_person(update, context)
    name = update.effective_user.first_name or user.display_name
    key = "start_new" if created else "start_again"
    await update.effective_message.reply_text(text(
        language, key, name=name, bonus=user.balance.bonus, total=user.balance.total,
        usage=_usage(language, settings.price_per_image)))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: what the bot does and every command."""
    price = services(context).settings.price_per_image
    await update.effective_message.reply_text(text(language_of(update), "help", price=price))


async def balance(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/balance: bonus and paid credits."""
    user = await current_user(update, context)
    await update.effective_message.reply_text(text(
        language_of(update), "balance", total=user.balance.total, bonus=user.balance.bonus,
        paid=user.balance.paid, price=services(context).settings.price_per_image))


def _history(user_id: int) -> tuple[list[JobView], list[LedgerEntry]]:
    return (jobs.list_jobs(user_id, per_page=HISTORY_JOBS).items,
            billing.ledger(user_id, per_page=HISTORY_ENTRIES).items)


def history_text(language: str, recent: list[JobView], entries: list[LedgerEntry]) -> str:
    """Recent jobs and ledger entries, one per line."""
    if not recent and not entries:
        return text(language, "history_empty")
    lines = []
    if recent:
        lines.append(text(language, "history_jobs"))
        lines += [text(language, "history_job", date=f"{job.created_at:%Y-%m-%d %H:%M}",
                       name=job.input_name or text(language, "history_photo"),
                       status=text(language, f"job_{job.status}"))
                  for job in recent]
    if entries:
        lines += ["", text(language, "history_ledger")] if lines else [text(language, "history_ledger")]
        lines += [text(language, "history_entry", date=f"{entry.created_at:%Y-%m-%d %H:%M}", amount=entry.amount,
                       bucket=text(language, f"bucket_{entry.bucket}"), kind=text(language, f"kind_{entry.kind}"))
                  for entry in entries]
    return "\n".join(lines)


async def history(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/history: recent photos and credit movements."""
    user = await current_user(update, context)
    recent, entries = await off_loop(_history, user.id)
    await update.effective_message.reply_text(history_text(language_of(update), recent, entries))


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: cancel the photos still waiting in line and refund them."""
    language = language_of(update)
    user = await current_user(update, context)
    cancelled = await off_loop(jobs.cancel_queued_jobs, user.id)
    for job in cancelled:
        if job.status_message_id and job.chat_id:
            try:
                await context.bot.edit_message_text(text(language, "status_cancelled"), chat_id=job.chat_id,
                                                    message_id=job.status_message_id)
            except TelegramError as exc:  # the status line is a courtesy; the refund is what counts
                logger.info("could not mark job %s cancelled in the chat: %s", job.id, exc)
    key = "cancelled" if cancelled else "nothing_to_cancel"
    await update.effective_message.reply_text(text(language, key, count=len(cancelled)))


async def paysupport(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/paysupport: how payments and refunds work."""
    await update.effective_message.reply_text(text(language_of(update), "paysupport"))


async def apikey(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/apikey: a personal REST API key, shown once; a new one revokes the old."""
    language = language_of(update)
    settings = services(context).settings
    user = await current_user(update, context)
    if user.is_blocked:
        await update.effective_message.reply_text(text(language, "account_blocked"))
        return
    key = await off_loop(tokens.issue_api_key, user.id, settings)
    await update.effective_message.reply_text(
        text(language, "apikey", api_key=html.escape(key), url=html.escape(settings.public_url.rstrip("/"))),
        parse_mode=ParseMode.HTML)


async def web(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/web: a one-time link that signs the user in to the web page."""
    language = language_of(update)
    user = await current_user(update, context)
    try:
        link = await off_loop(tokens.issue_login_link, user.id, services(context).settings)
    except UserBlocked:
        await update.effective_message.reply_text(text(language, "account_blocked"))
        return
    await update.effective_message.reply_text(text(language, "web", url=link), disable_web_page_preview=True)


async def text_hint(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plain text: remind the person to send a photo."""
    await update.effective_message.reply_text(text(language_of(update), "text_hint"))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not have."""
    await update.effective_message.reply_text(text(language_of(update), "unknown_command"))


def register(application: Application) -> None:
    """Wire the plain commands."""
    for name, callback in (("start", start), ("help", help_command), ("balance", balance),
                           ("history", history), ("cancel", cancel), ("paysupport", paysupport),
                           ("apikey", apikey), ("web", web)):
        application.add_handler(CommandHandler(name, callback, filters=PRIVATE))


def register_fallbacks(application: Application) -> None:
    """Wire the catch-alls; call last, so every specific handler of the group is tried first."""
    application.add_handler(MessageHandler(PRIVATE & filters.COMMAND, unknown_command))
    application.add_handler(MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, text_hint))
