"""Albums: photos sent together (one media_group_id, up to 10) are one request.

Telegram sends each photo of an album as its own update, all at once; they are gathered until
QUIET_SECONDS pass without another, then submitted together: one status message ("3 of 7
done"), each photo its own job, charged once (core.jobs; an album counts as one request against
MAX_JOBS_IN_FLIGHT). When the balance covers only some, the first photos it covers are taken and
one message names the others, says nothing was charged for them and offers to buy more.

Results come back one by one as they finish, each as a reply to its own photo with its own
buttons (bot/rerender.py): a document group would keep the first result waiting for the last,
and a group cannot carry buttons.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.payments import buy_markup
from bot.photos import PHOTO_NAME, FileTooBig, Incoming, error_text, fetch, may_submit, too_large
from bot.services import PRIVATE, current_user, download_limit, language_of, off_loop, services
from bot.texts import text
from core import albums, billing, jobs
from core.albums import AlbumProgress
from core.enums import JobSource
from core.errors import CutoutError, DatabaseUnavailable, DuplicateSubmission, InsufficientCredits
from core.views import JobView, UserView

logger = logging.getLogger(__name__)

QUIET_SECONDS = 1.0  # an album's updates come together; this long without another ends it
GATHERING = "albums"  # bot_data: (chat id, media group id) -> Gathered


@dataclass
class Gathered:
    """An album's photos so far, and when the last one came (the loop's clock)."""

    photos: list[tuple[Message, Incoming]] = field(default_factory=list)
    last: float = 0.0


@dataclass
class Taken:
    """What became of an album's photos, by their number in the album (1 first)."""

    jobs: list[JobView] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # the balance did not cover them
    refused: list[tuple[int, str]] = field(default_factory=list)  # (number, why)
    beyond: list[int] = field(default_factory=list)  # past Telegram's 10


class _InAlbum(filters.MessageFilter):
    def filter(self, message: Message) -> bool:
        return message.media_group_id is not None


IN_ALBUM = _InAlbum(name="in_album")


async def album_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo of an album: gathered with the others."""
    best = update.effective_message.photo[-1]
    _gather(update, context, Incoming(best.file_id, best.file_size, PHOTO_NAME))


async def album_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An image file of an album: gathered with the others."""
    document = update.effective_message.document
    _gather(update, context, Incoming(document.file_id, document.file_size, document.file_name or "image"))


def _gather(update: Update, context: ContextTypes.DEFAULT_TYPE, incoming: Incoming) -> None:
    message = update.effective_message
    key = (message.chat_id, message.media_group_id)
    gathering = context.bot_data.setdefault(GATHERING, {})
    if key not in gathering:  # the album's first photo: submit them all once no more come
        gathering[key] = Gathered()
        context.application.create_task(_submit_when_quiet(update, context, key), update=update)
    if all(seen.message_id != message.message_id for seen, _ in gathering[key].photos):  # not a repeat
        gathering[key].photos.append((message, incoming))
    gathering[key].last = asyncio.get_running_loop().time()


async def _submit_when_quiet(update: Update, context: ContextTypes.DEFAULT_TYPE, key: tuple) -> None:
    gathering, loop = context.bot_data[GATHERING], asyncio.get_running_loop()
    while (wait := gathering[key].last + QUIET_SECONDS - loop.time()) > 0:
        await asyncio.sleep(wait)
    photos = sorted(gathering.pop(key).photos, key=lambda photo: photo[0].message_id)
    await submit_album(update, context, photos)


async def submit_album(update: Update, context: ContextTypes.DEFAULT_TYPE,
                       photos: list[tuple[Message, Incoming]]) -> None:
    """One status message for the album; the photos the balance covers become jobs, published
    once the status says so; the rest are named, with a way to buy more."""
    svc, language, first = services(context), language_of(update), photos[0][0]
    if all([await off_loop(jobs.job_for_message, m.chat_id, m.message_id) for m, _ in photos]):
        logger.info("album %s in chat %s was submitted already; ignored", first.media_group_id, first.chat_id)
        return
    user = await current_user(update, context)
    if not await may_submit(first, language, user, svc.settings):
        return
    album_id = await off_loop(albums.open_album, user.id, first.chat_id, first.media_group_id, len(photos))
    status = await first.reply_text(text(language, "album_received", count=len(photos)), do_quote=True)
    await off_loop(albums.set_status_message, album_id, status.message_id)
    taken = await _take(context, user, album_id, photos, language)
    try:
        await status.edit_text(progress_text(language, await off_loop(albums.progress, album_id)))
    except DatabaseUnavailable:  # the count waits for the database; the photos taken do not
        logger.warning("album %s: progress not shown (the database is away)", album_id)
    finally:  # the jobs are paid for: publish them whatever the chat did
        for job in taken.jobs:
            await off_loop(jobs.try_publish, svc.queue, job.id)
    await _tell_left_out(photos, taken, user, language, context)


async def _take(context: ContextTypes.DEFAULT_TYPE, user: UserView, album_id: int,
                photos: list[tuple[Message, Incoming]], language: str) -> Taken:
    """Fetch and submit the album's photos in order, until the credits run out."""
    svc, taken = services(context), Taken()
    limit = download_limit(svc.settings)
    for number, (message, incoming) in enumerate(photos, 1):
        if number > albums.MAX_PHOTOS:
            taken.beyond.append(number)
            continue
        if taken.skipped:  # one price for all: once the credits ran out, they are out for the rest
            taken.skipped.append(number)
            continue
        try:
            if incoming.file_size and incoming.file_size > limit:
                raise FileTooBig(incoming.file_size)
            data = await fetch(context, incoming.file_id, limit)
            taken.jobs.append(await off_loop(
                jobs.create_job, user.id, data, user.options, settings=svc.settings, storage=svc.storage,
                source=JobSource.TELEGRAM, chat_id=message.chat_id, message_id=message.message_id,
                input_name=incoming.name, album_id=album_id))
        except InsufficientCredits:
            taken.skipped.append(number)
        except DuplicateSubmission:  # submitted before (a repeated update)
            continue
        except FileTooBig as exc:
            taken.refused.append((number, too_large(language, exc.size, svc.settings)))
        except TelegramError as exc:
            logger.warning("could not fetch album photo %s: %s", incoming.file_id, exc)
            taken.refused.append((number, text(language, "download_failed")))
        except CutoutError as exc:
            taken.refused.append((number, error_text(language, exc, svc.settings, user.balance.total)))
        except DatabaseUnavailable:  # this photo is not taken; those before it are, and go ahead
            taken.refused.append((number, text(language, "unavailable")))
    return taken


async def _tell_left_out(photos: list[tuple[Message, Incoming]], taken: Taken, user: UserView, language: str,
                         context: ContextTypes.DEFAULT_TYPE) -> None:
    """Name the photos that were not taken, and why: never a silent partial charge."""
    settings = services(context).settings
    if taken.skipped:
        balance = (await off_loop(billing.balance, user.id)).total
        await photos[taken.skipped[0] - 1][0].reply_text(
            text(language, "album_skipped", count=len(taken.skipped), photos=len(photos),
                 numbers=_numbers(taken.skipped), total=balance, price=settings.price_per_image),
            reply_markup=buy_markup(language), do_quote=True)
    if taken.refused:
        lines = [text(language, "album_refused", number=number, reason=reason) for number, reason in taken.refused]
        await photos[taken.refused[0][0] - 1][0].reply_text("\n".join(lines), do_quote=True)
    if taken.beyond:
        await photos[0][0].reply_text(text(language, "album_too_big", limit=albums.MAX_PHOTOS,
                                           numbers=_numbers(taken.beyond)), do_quote=True)


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(number) for number in numbers)


def progress_text(language: str, progress: AlbumProgress) -> str:
    """The album's status line: how many of its taken photos are done (and failed)."""
    if not progress.taken:
        return text(language, "album_none_taken")
    if progress.failed:
        return text(language, "album_progress_failed", done=progress.done, taken=progress.taken,
                    failed=progress.failed)
    if progress.finished:
        return text(language, "album_all_done", taken=progress.taken)
    return text(language, "album_progress", done=progress.done, taken=progress.taken)


def register(application: Application) -> None:
    """Wire photos and image files that belong to an album (before the single photo's handlers)."""
    application.add_handler(MessageHandler(PRIVATE & IN_ALBUM & filters.PHOTO, album_photo))
    application.add_handler(MessageHandler(PRIVATE & IN_ALBUM & filters.Document.IMAGE, album_document))
