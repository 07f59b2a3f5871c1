"""Buttons under every result: the same photo with another background, as a sticker, cropped or
not, made again from its kept mask (core/renders.py: no model, no queue) and sent as a reply.

Callback data names the file the buttons sit under, `rs:j<job hex>:<choice>` for a job's result
and `rs:r<render id>:<choice>` for a re-render's; the choice is /settings' ("mode:png",
"color:ffffff", "crop", "colors", "back"). Whose file it is is looked up, not trusted: a forged
button that names another's photo is refused."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import asdict

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ReplyParameters, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.services import (
    PRIVATE,
    current_user,
    download_limit,
    is_not_modified,
    language_of,
    off_loop,
    services,
)
from bot.settings_menu import PALETTE, WHITE, apply_choice
from bot.texts import EN, text
from core import renders
from core.errors import CutoutError
from core.options import JobOptions
from core.ratelimit import Limiter

logger = logging.getLogger(__name__)

PREFIX = "rs"
PACK = "sp"  # the sticker pack's buttons
PATTERN = re.compile(rf"^{PREFIX}:(j[0-9a-f]{{32}}|r\d{{1,12}}):"
                     r"(mode:(png|sticker)|color:[0-9a-f]{6}|crop|colors|back|hex|shot|picture)$")
HEX = re.compile(r"^\s*#?([0-9a-fA-F]{6})\s*$")
PENDING_HEX = "rerender_hex"  # user_data: the file whose "send a hex code" was pressed last
PENDING_PICTURE = "rerender_picture"  # user_data: the file whose "on a picture" was pressed last
# "Product shot": the subject at 80% of the frame, centred, on white (remove.bg's scale and position).
PRODUCT_SHOT = {"mode": "color", "bg_color": "#ffffff", "crop": False, "scale": 80, "position": "center"}


def _button(label: str, where: str, choice: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=f"{PREFIX}:{where}:{choice}")


def where_of(job_id: str, render_id: int | None = None) -> str:
    return f"r{render_id}" if render_id is not None else f"j{uuid.UUID(str(job_id)).hex}"


def result_keyboard(where: str, options: JobOptions, language: str) -> InlineKeyboardMarkup:
    """Transparent · White · Colour… · Sticker · Crop on/off: those that differ from this file."""
    first, second = [], []
    if options.mode != "png":
        first.append(_button(text(language, "opt_png"), where, "mode:png"))
    if not (options.mode == "color" and options.bg_color == WHITE):
        first.append(_button(text(language, "opt_white"), where, "color:ffffff"))
    first.append(_button(text(language, "opt_colors"), where, "colors"))
    if options.mode != "sticker":
        second.append(_button(text(language, "opt_sticker"), where, "mode:sticker"))
    second.append(_button(text(language, "opt_crop_off" if options.crop else "opt_crop_on"), where, "crop"))
    if options.mode == "sticker":
        return InlineKeyboardMarkup([first, second, [pack_button(where, language)]])
    return InlineKeyboardMarkup([first, second])


def pack_button(where: str, language: str) -> InlineKeyboardButton:
    """"Add to my sticker pack" under a sticker (bot/stickers.py answers it)."""
    return InlineKeyboardButton(text(language, "opt_add_to_pack"), callback_data=f"{PACK}:a:{where}")


def palette_keyboard(where: str, language: str) -> InlineKeyboardMarkup:
    buttons = [_button(text(language, f"color_{color}"), where, f"color:{color[1:]}") for color in PALETTE]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup([*rows, [_button(text(language, "opt_shot"), where, "shot"),
                                         _button(text(language, "opt_picture"), where, "picture")],
                                 [_button(text(language, "opt_hex"), where, "hex"),
                                  _button(text(language, "opt_back"), where, "back")]])


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button under a result: a palette, the way back, or the photo made again."""
    query = update.callback_query
    match = PATTERN.match(query.data or "")
    where, choice = match.group(1), match.group(2)
    if choice in ("hex", "picture"):  # the next hex code (or photo) this person sends is for this file
        pending = PENDING_HEX if choice == "hex" else PENDING_PICTURE
        context.user_data[pending] = (where, query.message.chat_id, query.message.message_id)
        await query.answer()
        await query.message.reply_text(text(language_of(update), f"render_{choice}_prompt"))
        return
    await _render(update, context, where, choice, query.message)


async def on_hex(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A hex code after "send a hex code": that file on that colour; any other time, the usual hint."""
    pending = context.user_data.pop(PENDING_HEX, None)
    if pending is None:
        await update.effective_message.reply_text(text(language_of(update), "text_hint"))
        return
    where, chat_id, message_id = pending
    color = HEX.match(update.effective_message.text).group(1).lower()
    await _render(update, context, where, f"color:{color}", _Replied(chat_id, message_id))


async def take_picture(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A photo sent after "On a picture…": the file it was pressed under, on this photo (True);
    False when no such button was pressed, and the photo is a new one to cut out."""
    pending = context.user_data.pop(PENDING_PICTURE, None)
    if pending is None:
        return False
    where, chat_id, message_id = pending
    language, best = language_of(update), update.effective_message.photo[-1]
    limit = download_limit(services(context).settings)
    try:
        if best.file_size and best.file_size > limit:
            raise BadRequest("file is too big")
        picture = bytes(await (await context.bot.get_file(best.file_id)).download_as_bytearray())
    except TelegramError as exc:
        logger.info("the picture for render %s could not be fetched: %s", where, exc)
        await update.effective_message.reply_text(text(language, "download_failed"))
        return True
    await _render(update, context, where, "picture", _Replied(chat_id, message_id), background=picture)
    return True


class _Replied:
    """The message a result was sent under (what a button press carries), for a typed answer."""

    def __init__(self, chat_id: int, message_id: int):
        self.chat_id, self.message_id = chat_id, message_id


async def _render(update: Update, context: ContextTypes.DEFAULT_TYPE, where: str, choice: str, message,
                  background: bytes | None = None) -> None:
    query = update.callback_query
    language = language_of(update)
    user = await current_user(update, context)
    job_id = None if where.startswith("r") else str(uuid.UUID(where[1:]))
    render_id = int(where[1:]) if where.startswith("r") else None
    try:
        job_id, shown = await off_loop(renders.shown_file, job_id, render_id, user.id)
        if choice in ("colors", "back") and query is not None:
            await query.answer()
            keyboard = (palette_keyboard(where, language) if choice == "colors"
                        else result_keyboard(where, shown, language))
            await _set_keyboard(query, keyboard)
            return
        wanted = PRODUCT_SHOT if choice == "shot" else asdict(apply_choice(shown, choice))
        svc = services(context)
        rendered = await off_loop(renders.render_job, job_id, user.id, wanted, settings=svc.settings,
                                  storage=svc.storage, limiter=Limiter(), background=background)
    except CutoutError as exc:
        key = f"render_{exc.code}"
        said = text(language, key) if key in EN else exc.message
        if query is not None:
            await query.answer(said, show_alert=True)
        else:
            await update.effective_message.reply_text(said)
        return
    try:
        # A file on a picture gets the photo's own buttons: the picture is not kept, so changes
        # start again from the photo rather than from a background they could not show.
        await send_rendered(context, message, rendered, language, under=where_of(job_id) if background else None)
    except TelegramError as exc:  # the file never reached the person: their credits go back
        logger.warning("render %d not sent (%s); refunded", rendered.render_id, exc)
        await off_loop(renders.refund_render, rendered.render_id)
        said = text(language, "render_not_sent")
        if query is not None:
            await query.answer(said, show_alert=True)
        else:
            await update.effective_message.reply_text(said)
        return
    if query is not None:
        await query.answer()


async def send_rendered(context: ContextTypes.DEFAULT_TYPE, message, rendered: renders.RenderedFile,
                        language: str, under: str | None = None) -> None:
    """The new file as a reply to the one whose button was pressed, with buttons of its own (or
    those of the file `under` names)."""
    reply = ReplyParameters(message.message_id, allow_sending_without_reply=True)
    keyboard = result_keyboard(under or where_of("", rendered.render_id), rendered.options, language)
    upload = InputFile(rendered.data, filename=rendered.filename)
    if rendered.options.mode == "sticker":
        await context.bot.send_sticker(message.chat_id, upload, reply_parameters=reply, reply_markup=keyboard)
    else:
        await context.bot.send_document(message.chat_id, upload, reply_parameters=reply, reply_markup=keyboard,
                                        disable_content_type_detection=True)


async def _set_keyboard(query, keyboard: InlineKeyboardMarkup) -> None:
    try:
        await query.edit_message_reply_markup(reply_markup=keyboard)
    except BadRequest as exc:
        if not is_not_modified(exc):
            raise


def register(application: Application) -> None:
    application.add_handler(CallbackQueryHandler(on_press, pattern=PATTERN))
    application.add_handler(MessageHandler(PRIVATE & filters.Regex(HEX), on_hex))
