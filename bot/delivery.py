"""Results out: a listener thread consumes result events; the Telegram calls run on the bot's event loop.

Events carry only a job id; the database says what to do. Every step is idempotent: a job already
delivered sends nothing again. A 429 waits `retry_after` and retries; a 403 (the user blocked the
bot) or a 400 (the chat is gone) is recorded and acked; anything else is tried again later through
the queue (core.queue.RetryLater), with a growing pause, up to DELIVERY_MAX_ATTEMPTS times and
DELIVERY_MAX_AGE_SECONDS: then the job records why, the event goes to the dead-letter queue, and
the result goes out when the person next writes to the bot (bot.services.register_person).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from telegram import Bot, InputFile, ReplyParameters
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot.albums import progress_text
from bot.rerender import result_keyboard, where_of
from bot.services import is_not_modified, with_connection
from bot.texts import text
from core import accounts, albums, deliveries, jobs, results
from core.bootstrap import Runtime
from core.db import through_outages
from core.enums import JobStatus
from core.errors import JobNotFound, ResultGone
from core.failures import PROCESSING_FAILED
from core.metrics import BOT_DELIVERY
from core.queue import Reject, RetryLater
from core.retries import RetryPolicy
from core.views import JobView

logger = logging.getLogger(__name__)

CALL_TIMEOUT_SECONDS = 300  # an upload of a large result on a slow link
MAX_BACKOFF_SECONDS = 60.0
REASON_LENGTH = 200


def retry_seconds(exc: RetryAfter) -> float:
    """How long Telegram asked us to wait, in seconds (int or timedelta, depending on PTB settings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def send_result(bot: Bot, job: JobView, result: results.ResultFile, language: str, tip: str = "") -> None:
    """The result to the chat: a sticker, or a document (so a PNG keeps its transparency), with
    the buttons that make it again otherwise (bot/rerender.py) when its mask is kept; a `tip`
    goes in the document's caption."""
    reply = ReplyParameters(job.message_id, allow_sending_without_reply=True) if job.message_id else None
    keyboard = result_keyboard(where_of(job.id), job.options, language) if job.mask_key else None
    if job.options.mode == "sticker":
        await bot.send_sticker(job.chat_id, InputFile(result.data, filename=result.filename), reply_parameters=reply,
                               reply_markup=keyboard)
        return
    await bot.send_document(job.chat_id, InputFile(result.data, filename=result.filename),
                            caption="\n\n".join(filter(None, (text(language, "result_caption"), tip))),
                            reply_parameters=reply, reply_markup=keyboard,
                            disable_content_type_detection=True)


async def edit_status(bot: Bot, chat_id: int, message_id: int, message: str) -> None:
    """Rewrite a status message; an edit that changes nothing is fine."""
    try:
        await bot.edit_message_text(message, chat_id=chat_id, message_id=message_id)
    except BadRequest as exc:
        if not is_not_modified(exc):
            raise


async def tell_failure(bot: Bot, job: JobView, message: str) -> None:
    """Say the job failed: in its status message, or a new message (a reply to the photo) if it
    has none of its own (an album's photo) or that one is gone."""
    if job.status_message_id:
        try:
            await edit_status(bot, job.chat_id, job.status_message_id, message)
            return
        except BadRequest as exc:
            logger.info("status message of job %s cannot be edited (%s); sending a new one", job.id, exc)
    reply = ReplyParameters(job.message_id, allow_sending_without_reply=True) if job.message_id else None
    await bot.send_message(job.chat_id, message, reply_parameters=reply)


class ResultListener:
    """Consumes `result_queue` in its own thread; started and stopped with the application."""

    def __init__(self, bot: Bot, services: Runtime, loop: asyncio.AbstractEventLoop):
        self.bot = bot
        self.services = services
        self.loop = loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        settings = services.settings
        self.retries = RetryPolicy(max_attempts=settings.delivery_max_attempts,
                                   max_age=settings.delivery_max_age_seconds,
                                   base_delay=settings.retry_backoff_seconds)

    def start(self) -> None:
        """Begin consuming in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="result-listener", daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        """True while the listener thread consumes (for the heartbeat)."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop consuming and wait for the message in hand to finish (it is acked or goes back)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("the result listener did not stop within %s s", timeout)

    def _run(self) -> None:
        delay = 1.0
        queue, name = self.services.queue, self.services.settings.result_queue
        while not self._stop.is_set():
            try:
                queue.consume(name, self.handle, self._stop)
            except Exception:
                logger.exception("result listener lost its queue; retrying in %.0f s", delay)
                self._stop.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def handle(self, message: dict) -> None:
        """One result event: act on the job's status. While the database is away the event waits
        in hand for it, costing no try; another failure is tried again later (RetryLater: the
        event waits in the queue, behind nobody), until the tries run out."""
        job_id = str(message["job_id"])
        try:
            through_outages(self._stop, with_connection, self._act, job_id)
        except Reject:
            raise
        except Exception as exc:
            attempt, reason = message.get("attempt", 0) + 1, f"{type(exc).__name__}: {exc}"[:REASON_LENGTH]
            if self.retries.exhausted(attempt, message.get("since")):
                logger.error("delivery of job %s gave up after %d attempts: %s", job_id, attempt, reason)
                with_connection(deliveries.record_delivery, job_id,
                                error=f"Not delivered after {attempt} attempts: {reason}")
                raise Reject(f"delivery of job {job_id} gave up after {attempt} attempts") from exc
            delay = self.retries.delay(attempt)
            logger.warning("delivery of job %s failed (attempt %d): %s; trying again in %.1f s", job_id, attempt,
                           reason, delay, exc_info=exc)
            raise RetryLater(delay, reason) from exc

    def _act(self, job_id: str) -> None:
        try:
            job = jobs.get_job(job_id)
        except JobNotFound:
            raise Reject(f"result event for unknown job {job_id}") from None
        if job.chat_id is None or job.status not in (JobStatus.PROCESSING, JobStatus.DONE, JobStatus.FAILED):
            return  # an API job, or one still queued or cancelled: nothing to say in a chat
        language = accounts.get_user(job.user_id).language
        if job.status == JobStatus.PROCESSING:
            self._courtesy(job, text(language, "status_processing"))
        elif job.status == JobStatus.DONE:
            storage = self.services.storage
            tip = text(language, "send_as_file_tip") if deliveries.send_as_file_tip_due(job) else ""
            self._deliver(job, lambda: send_result(self.bot, job, results.result_file(job.id, storage), language,
                                                   tip), tip_given=bool(tip))
            self._courtesy(job, text(language, "status_done"))
        else:
            generic = job.error in (None, PROCESSING_FAILED)  # said in the person's language instead
            reason = (text(language, "failed_reason") if generic else job.error)[:REASON_LENGTH]
            self._deliver(job, lambda: tell_failure(self.bot, job, text(language, "status_failed", reason=reason)))
        if job.album_id is not None and job.status != JobStatus.PROCESSING:
            self._album_courtesy(job.album_id, language)

    def _deliver(self, job: JobView, send: Callable[[], Awaitable[None]], *, tip_given: bool = False) -> None:
        """Send once and record it (and a tip it carried); a chat that will never take it is recorded too."""
        if job.delivered_at is not None:
            logger.info("job %s was already delivered", job.id)
            return
        try:
            self._call(send)
        except (Forbidden, BadRequest, ResultGone) as exc:
            # Permanent: the user blocked the bot, the chat is gone, or the result was purged.
            logger.warning("job %s cannot be delivered to chat %s: %s", job.id, job.chat_id, exc)
            deliveries.record_delivery(job.id, error=f"{type(exc).__name__}: {exc}"[:500])
            return
        deliveries.record_delivery(job.id, tip_given=tip_given)
        if job.finished_at is not None:
            now = datetime.now(UTC).replace(tzinfo=None)  # the database's naive UTC
            BOT_DELIVERY.observe(max(0.0, (now - job.finished_at).total_seconds()))
        logger.info("job %s delivered to chat %s", job.id, job.chat_id)

    def _courtesy(self, job: JobView, message: str) -> None:
        """Update the status line; it is only a courtesy, so a failure is logged, not retried."""
        if not job.status_message_id:
            return
        try:
            self._call(lambda: edit_status(self.bot, job.chat_id, job.status_message_id, message))
        except Exception as exc:
            logger.info("status of job %s not updated: %s", job.id, exc)

    def _album_courtesy(self, album_id: int, language: str) -> None:
        """Update the album's one status line ("3 of 7 done") from its jobs, as each finishes."""
        progress = albums.progress(album_id)
        if progress.status_message_id is None:
            return
        message = progress_text(language, progress)
        try:
            self._call(lambda: edit_status(self.bot, progress.chat_id, progress.status_message_id, message))
        except Exception as exc:
            logger.info("status of album %s not updated: %s", album_id, exc)

    def _call(self, make: Callable[[], Awaitable[None]]) -> None:
        """Run a Telegram call on the bot's loop and wait; on 429 wait as asked and call again."""
        while True:
            future = asyncio.run_coroutine_threadsafe(make(), self.loop)
            try:
                return future.result(CALL_TIMEOUT_SECONDS)
            except RetryAfter as exc:
                wait = retry_seconds(exc)
                logger.warning("Telegram asks to wait %.0f s before the next call", wait)
                if self._stop.wait(wait):
                    raise  # shutting down: the event goes back to the queue
            except concurrent.futures.TimeoutError:
                future.cancel()
                raise
