"""The Application: handlers wired, the result listener started and stopped with it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from telegram import Update
from telegram.error import NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import BaseRequest

from bot import albums, commands, payments, photos, rerender, settings_menu, stickers
from bot.concurrency import PerChatUpdateProcessor
from bot.delivery import ResultListener
from bot.metrics import CountingRequest, count_update
from bot.reconcile import Reconciler
from bot.services import RUNTIME, language_of
from bot.texts import text
from core.bootstrap import Runtime
from core.errors import DatabaseUnavailable
from core.health import beat, heartbeat_path
from core.queue import JobQueue, open_queue
from core.settings import Settings
from core.storage import Store, open_storage

logger = logging.getLogger(__name__)

LISTENER = "result_listener"
HEARTBEAT = "heartbeat"
HEARTBEAT_SECONDS = 30.0
RECONCILER = "reconciler"
RECONCILING = "reconciling"


def heartbeat_file(settings: Settings) -> Path:
    """The file `python -m core healthcheck` reads."""
    return heartbeat_path(settings.storage_dir, "bot")


def build_application(settings: Settings, *, queue: JobQueue | None = None, storage: Store | None = None,
                      request: BaseRequest | None = None) -> Application:
    """The bot with every handler wired; nothing runs until it is initialized (tests inject `request`)."""
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_file_base_url)
        .concurrent_updates(PerChatUpdateProcessor())
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
    )
    # Every Bot API call is counted (bot/metrics.py) around the real request or a test's.
    if request is not None:
        builder = builder.request(CountingRequest(request)).get_updates_request(CountingRequest(request))
    else:
        builder = builder.request(CountingRequest.default(get_updates=False)).get_updates_request(
            CountingRequest.default(get_updates=True))
    application = builder.build()
    application.add_handler(TypeHandler(Update, count_update), group=-1)
    application.bot_data[RUNTIME] = Runtime(
        settings=settings,
        queue=queue if queue is not None else open_queue(settings),
        storage=storage if storage is not None else open_storage(settings),
    )
    for area in (commands, payments, settings_menu, rerender, stickers, albums, photos):
        area.register(application)
    commands.register_fallbacks(application)
    application.add_error_handler(on_error)
    return application


async def post_init(application: Application) -> None:
    """Publish the command menus, start delivering results and reconciling payments."""
    try:
        await commands.set_menus(application)
    except TelegramError as exc:  # a missing menu is cosmetic; the bot still works
        logger.warning("could not set the command menu: %s", exc)
    runtime = application.bot_data[RUNTIME]
    listener = ResultListener(application.bot, runtime, asyncio.get_running_loop())
    listener.start()
    application.bot_data[LISTENER] = listener
    application.bot_data[HEARTBEAT] = asyncio.create_task(heartbeat(heartbeat_file(runtime.settings), listener))
    reconciler = application.bot_data[RECONCILER] = Reconciler(application.bot, runtime.settings)
    if runtime.settings.payment_reconcile_seconds:
        application.bot_data[RECONCILING] = asyncio.create_task(
            reconciler.run(runtime.settings.payment_reconcile_seconds))


async def heartbeat(path: Path, listener: ResultListener) -> None:
    """Touch the heartbeat file while the listener lives; beating from the loop shows the loop is not stuck."""
    while True:
        if listener.is_alive():
            try:
                await asyncio.to_thread(beat, path)
            except OSError as exc:
                logger.warning("cannot write the heartbeat %s: %s", path, exc)
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def post_stop(application: Application) -> None:
    """Stop the background tasks and the result listener while the bot can still finish the delivery in hand."""
    for name in (HEARTBEAT, RECONCILING):
        task = application.bot_data.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    listener = application.bot_data.pop(LISTENER, None)
    if listener is not None:
        await asyncio.to_thread(listener.stop)


async def post_shutdown(application: Application) -> None:
    """Make sure the listener is stopped, then release the queue."""
    await post_stop(application)
    await asyncio.to_thread(application.bot_data[RUNTIME].queue.close)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every error of a handler; tell the person when there is a chat to tell. The database
    being away is no bug: core logs the outage once, and the person hears to send it again soon."""
    if isinstance(context.error, DatabaseUnavailable):
        await tell(update, "unavailable")
        return
    logger.error("error while handling update %s", getattr(update, "update_id", None), exc_info=context.error)
    if not isinstance(context.error, NetworkError):  # else Telegram itself is unreachable
        await tell(update, "try_again")


async def tell(update: object, key: str) -> None:
    """Say the text `key`, in the sender's language: as the answer to a pressed button (which stops
    its spinner), or, if there is none or it was answered already, in reply to the update's message."""
    if not isinstance(update, Update):
        return
    message = text(language_of(update), key)
    if update.callback_query:
        try:
            await update.callback_query.answer(message)
            return
        except TelegramError:  # answered already by its handler: say it in the chat instead
            pass
    if not update.effective_message:
        return
    try:
        await update.effective_message.reply_text(message)
    except TelegramError:
        logger.info("could not tell chat %s about the error", update.effective_chat.id)
