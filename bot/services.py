"""What every handler needs: the core services, off-loop calls, the current user and their language."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes, filters

from bot.texts import language_for
from core import accounts
from core.db import db, is_postgres
from core.errors import UserNotFound
from core.queue import JobQueue
from core.settings import Settings
from core.storage import Storage
from core.views import UserView

logger = logging.getLogger(__name__)

T = TypeVar("T")
# The official Bot API lets a bot download files up to 20 MB; a local Bot API server has no such cap.
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024
OFFICIAL_API = "https://api.telegram.org/"
# New messages in a private chat: an edited caption must not start (and charge) a second job,
# and photos posted in a group are not meant for the bot.
PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


@dataclass(frozen=True)
class Services:
    settings: Settings
    queue: JobQueue
    storage: Storage


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The core services this application was built with."""
    return context.application.bot_data["services"]


def with_connection(func: Callable[..., T], *args, **kwargs) -> T:
    """Call `func` in this thread with a database connection.

    PostgreSQL: a pooled connection is checked out for the call only, so idle threads hold none.
    SQLite: each thread keeps its own connection, as opening one costs more than most queries.
    """
    if not is_postgres():
        return func(*args, **kwargs)
    with db.connection_context():
        return func(*args, **kwargs)


async def off_loop(func: Callable[..., T], /, *args, **kwargs) -> T:
    """Run a blocking core call (database, queue, storage) in a worker thread, never on the event loop."""
    return await asyncio.to_thread(functools.partial(with_connection, func, *args, **kwargs))


def language_of(update: Update) -> str:
    """The catalogue language of the person behind an update."""
    user = update.effective_user
    return language_for(user.language_code if user else None)


def _find_or_register(update: Update, signup_bonus: int) -> UserView:
    tg = update.effective_user
    try:
        return accounts.get_user_by_telegram_id(tg.id)
    except UserNotFound:
        return accounts.register_telegram_user(
            tg.id, username=tg.username, first_name=tg.first_name, last_name=tg.last_name,
            language_code=tg.language_code, signup_bonus=signup_bonus)[0]


async def current_user(update: Update, context: ContextTypes.DEFAULT_TYPE) -> UserView:
    """The account of the update's sender; first contact registers it (with the signup bonus, once)."""
    return await off_loop(_find_or_register, update, services(context).settings.signup_bonus_credits)


def download_limit(settings: Settings) -> int:
    """The largest file the bot may fetch: the Bot API's 20 MB on the official server."""
    if settings.telegram_api_base_url.startswith(OFFICIAL_API):
        return min(settings.max_upload_bytes, BOT_API_DOWNLOAD_LIMIT)
    return settings.max_upload_bytes


def is_not_modified(exc: BadRequest) -> bool:
    """True for Telegram's answer to an edit that changes nothing."""
    return "not modified" in exc.message.lower()


def megabytes(size: int) -> str:
    """A size in MB for people (one decimal, no trailing .0)."""
    value = f"{size / (1024 * 1024):.1f}"
    return value.removesuffix(".0")
