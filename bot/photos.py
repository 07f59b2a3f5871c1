"""Photos and image files in: fetch, create the job, show its status; anything else gets a clear answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot import rerender
from bot.payments import buy_markup
from bot.services import (
    PRIVATE,
    current_user,
    download_limit,
    language_of,
    megabytes,
    off_loop,
    services,
)
from bot.texts import formats, text
from core import admission, deliveries, jobs
from core.bootstrap import Runtime
from core.enums import JobSource
from core.errors import (
    CutoutError,
    DatabaseUnavailable,
    DuplicateSubmission,
    ImageTooLarge,
    InsufficientCredits,
    InvalidImage,
    InvalidOptions,
    TooManyJobs,
    UserBlocked,
)
from core.settings import Settings
from core.views import JobView, UserView

logger = logging.getLogger(__name__)

PHOTO_NAME = deliveries.TELEGRAM_PHOTO_NAME  # Telegram photos carry no file name


@dataclass(frozen=True)
class Incoming:
    file_id: str
    file_size: int | None
    name: str


class FileTooBig(Exception):
    """The file is over the download limit."""

    def __init__(self, size: int):
        super().__init__(size)
        self.size = size


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo: cut out its largest size (or, after "On a picture…", put a result on it)."""
    if await rerender.take_picture(update, context):
        return
    best = update.effective_message.photo[-1]
    await submit_photo(update, context, Incoming(best.file_id, best.file_size, PHOTO_NAME))


async def image_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An image sent as a file (full quality)."""
    document = update.effective_message.document
    await submit_photo(update, context, Incoming(document.file_id, document.file_size, document.file_name or "image"))


async def not_an_image(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file that is not an image."""
    language = language_of(update)
    await update.effective_message.reply_text(text(language, "not_an_image", formats=formats(language)))


async def animation(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An animation: a GIF that Telegram kept as a GIF is an image file (its first frame is cut
    out); one it made a video of is not."""
    document = update.effective_message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        await image_document(update, context)
    else:
        await unsupported(update, context)


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Videos, voice, stickers and the like."""
    await update.effective_message.reply_text(text(language_of(update), "unsupported"))


async def submit_photo(update: Update, context: ContextTypes.DEFAULT_TYPE, incoming: Incoming) -> None:
    """Check cheaply, answer at once, fetch the file, create the job, then publish it."""
    svc = services(context)
    language = language_of(update)
    message = update.effective_message
    if await off_loop(jobs.job_for_message, message.chat_id, message.message_id):
        logger.info("update %s repeats chat message %s/%s, which already made a job; ignored",
                    update.update_id, message.chat_id, message.message_id)
        return
    user = await current_user(update, context)
    if incoming.file_size and incoming.file_size > download_limit(svc.settings):
        await message.reply_text(too_large(language, incoming.file_size, svc.settings))
        return
    if not await may_submit(message, language, user, svc.settings):
        return
    status = await message.reply_text(text(language, "received"), do_quote=True)
    try:
        data = await fetch(context, incoming.file_id, download_limit(svc.settings))
    except FileTooBig as exc:
        await status.edit_text(too_large(language, exc.size, svc.settings))
        return
    except TelegramError as exc:
        logger.warning("could not fetch file %s: %s", incoming.file_id, exc)
        await status.edit_text(text(language, "download_failed"))
        return
    try:
        job, position = await off_loop(create, svc, user, data, message, status, incoming.name)
    except DuplicateSubmission:  # the same message, delivered twice at once: the first one answers
        await status.delete()
        return
    except CutoutError as exc:
        await status.edit_text(error_text(language, exc, svc.settings, user.balance.total),
                               reply_markup=refusal_markup(language, exc))
        return
    try:
        # Edited before the publish, so a worker's "processing" is never overwritten by "queued".
        queued = text(language, "status_queued", position=position) if position else text(
            language, "status_queued_later")
        if job.first_frame_only:
            queued += "\n" + text(language, "first_frame_only")
        await status.edit_text(queued)
    finally:
        await off_loop(jobs.try_publish, svc.queue, job.id)  # the job is paid for: publish whatever the chat did


async def may_submit(message: Message, language: str, user: UserView, settings: Settings) -> bool:
    """core's rules (blocked, credits, photos in progress) before any download; a refusal is said
    in reply to `message` (with a buy button when credits are short)."""
    try:
        await off_loop(admission.check_can_submit, user.id, settings)
    except CutoutError as exc:
        await message.reply_text(error_text(language, exc, settings, user.balance.total),
                                 reply_markup=refusal_markup(language, exc))
        return False
    return True


def refusal_markup(language: str, exc: CutoutError):
    """A buy button under a refusal for want of credits."""
    return buy_markup(language) if isinstance(exc, InsufficientCredits) else None


def too_large(language: str, size: int, settings: Settings) -> str:
    return text(language, "too_large", size=megabytes(size), limit=megabytes(download_limit(settings)))


async def fetch(context: ContextTypes.DEFAULT_TYPE, file_id: str, limit: int) -> bytes:
    """The file's bytes through getFile; FileTooBig before downloading anything over `limit`."""
    try:
        file = await context.bot.get_file(file_id)
    except BadRequest as exc:
        if "too big" in exc.message.lower():  # the Bot API's own 20 MB refusal
            raise FileTooBig(limit + 1) from exc
        raise
    if file.file_size and file.file_size > limit:
        raise FileTooBig(file.file_size)
    data = bytes(await file.download_as_bytearray())
    if len(data) > limit:
        raise FileTooBig(len(data))
    return data


def create(svc: Runtime, user: UserView, data: bytes, message: Message, status: Message,
           name: str) -> tuple[JobView, int]:
    """Create the job (charged, not yet published), remember its status message, and find its
    place in line (0: unknown). Once the job and its charge are committed the photo goes ahead
    whatever follows: a database gone away now costs the status line its updates, never a
    "send it again" that would charge twice."""
    job = jobs.create_job(user.id, data, user.options, settings=svc.settings,
                          storage=svc.storage, source=JobSource.TELEGRAM, chat_id=message.chat_id,
                          message_id=message.message_id, input_name=name)
    try:
        deliveries.set_status_message(job.id, status.message_id)
        return job, jobs.queue_position(job.id)
    except DatabaseUnavailable:
        logger.warning("job %s is made and paid for; its status line is not kept (the database is away)", job.id)
        return job, 0


def error_text(language: str, exc: CutoutError, settings: Settings, total: int) -> str:
    """A domain error as a chat message (`total`: the credits the user was last seen to have)."""
    if isinstance(exc, InsufficientCredits):
        return text(language, "no_credits", price=settings.price_per_image, total=total)
    if isinstance(exc, TooManyJobs):
        return text(language, "too_many_jobs", limit=settings.max_jobs_in_flight)
    if isinstance(exc, ImageTooLarge):
        return text(language, "image_too_large", megapixels=settings.max_pixels // 1_000_000,
                    limit=megabytes(settings.max_upload_bytes))
    if isinstance(exc, InvalidImage):
        return text(language, "invalid_image", formats=formats(language))
    if isinstance(exc, InvalidOptions):
        return text(language, "invalid_options")
    if isinstance(exc, UserBlocked):
        return text(language, "blocked")
    logger.error("unexpected domain error for a photo: %s", exc)
    return text(language, "try_again")


def register(application: Application) -> None:
    """Wire photos, image files, other files and other media (new private messages only)."""
    application.add_handler(MessageHandler(PRIVATE & filters.PHOTO, photo))
    application.add_handler(MessageHandler(PRIVATE & filters.ANIMATION, animation))  # GIFs arrive as both
    # HEIC and AVIF files often come typed application/octet-stream: their extension names them.
    images = filters.Document.IMAGE
    for extension in ("heic", "heif", "avif"):
        images |= filters.Document.FileExtension(extension)
    application.add_handler(MessageHandler(PRIVATE & images, image_document))
    application.add_handler(MessageHandler(PRIVATE & filters.Document.ALL, not_an_image))
    application.add_handler(MessageHandler(
        PRIVATE & (filters.VIDEO | filters.VIDEO_NOTE | filters.VOICE | filters.AUDIO | filters.Sticker.ALL
                   | filters.LOCATION | filters.CONTACT | filters.POLL | filters.Dice.ALL), unsupported))
