"""What every handler needs: the core services, off-loop calls, the current user and their language."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TypeVar

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes, filters

from core import accounts, deliveries
from core.bootstrap import Runtime
from core.db import connection_scope
from core.errors import QueueUnavailable
from core.settings import Settings
from core.views import UserView

logger = logging.getLogger(__name__)

T = TypeVar("T")
RUNTIME = "runtime"  # the key of the Runtime in bot_data
# The official Bot API lets a bot download files up to 20 MB; a local Bot API server has no such cap.
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024
OFFICIAL_API = "https://api.telegram.org/"
# New messages in a private chat: an edited caption must not start (and charge) a second job,
# and photos posted in a group are not meant for the bot.
PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


def services(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    """The runtime (settings, queue, storage) this application was built with."""
    return context.application.bot_data[RUNTIME]


def with_connection(func: Callable[..., T], *args, **kwargs) -> T:
    """Call `func` in this thread within a database connection scope (core.db.connection_scope)."""
    with connection_scope():
        return func(*args, **kwargs)


async def off_loop(func: Callable[..., T], /, *args, **kwargs) -> T:
    """Run a blocking core call (database, queue, storage) in a worker thread, never on the event loop."""
    return await asyncio.to_thread(functools.partial(with_connection, func, *args, **kwargs))


def language_of(update: Update) -> str:
    """The language of the person behind an update (core's rule, as stored on their account)."""
    user = update.effective_user
    return accounts.language_for(user.language_code if user else None)


def telegram_person(update: Update, signup_bonus: int) -> tuple[UserView, bool]:
    """The account of the update's sender, registered on first contact and kept up to date (blocking)."""
    tg = update.effective_user
    return accounts.register_telegram_user(tg.id, username=tg.username, first_name=tg.first_name,
                                           last_name=tg.last_name, language_code=tg.language_code,
                                           signup_bonus=signup_bonus)


async def register_person(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[UserView, bool]:
    """telegram_person off the event loop: (user, created). A person writing to us shows that
    their chat works again: results that could not be sent before go out now."""
    runtime = services(context)
    return await off_loop(_person_with_pending_results, update, runtime.settings.signup_bonus_credits, runtime.queue)


def _person_with_pending_results(update: Update, signup_bonus: int, queue) -> tuple[UserView, bool]:
    user, created = telegram_person(update, signup_bonus)
    for job_id in deliveries.claim_undelivered_results(user.id):
        logger.info("sending the result of job %s again: its person writes to us", job_id)
        try:
            queue.publish_result(job_id)
        except QueueUnavailable as exc:  # the sweeper publishes lost result events again
            logger.warning("result of job %s not published again (%s)", job_id, exc)
    return user, created


async def current_user(update: Update, context: ContextTypes.DEFAULT_TYPE) -> UserView:
    """The account of the update's sender; first contact registers it (with the signup bonus, once)."""
    return (await register_person(update, context))[0]


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
