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

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ReplyParameters, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.services import current_user, is_not_modified, language_of, off_loop, services
from bot.settings_menu import PALETTE, WHITE, apply_choice
from bot.texts import EN, text
from core import renders
from core.errors import CutoutError
from core.options import JobOptions
from core.ratelimit import Limiter

logger = logging.getLogger(__name__)

PREFIX = "rs"
PATTERN = re.compile(rf"^{PREFIX}:(j[0-9a-f]{{32}}|r\d{{1,12}}):"
                     r"(mode:(png|sticker)|color:[0-9a-f]{6}|crop|colors|back)$")


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
    return InlineKeyboardMarkup([first, second])


def palette_keyboard(where: str, language: str) -> InlineKeyboardMarkup:
    buttons = [_button(text(language, f"color_{color}"), where, f"color:{color[1:]}") for color in PALETTE]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup([*rows, [_button(text(language, "opt_back"), where, "back")]])


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button under a result: a palette, the way back, or the photo made again."""
    query = update.callback_query
    language = language_of(update)
    match = PATTERN.match(query.data or "")
    where, choice = match.group(1), match.group(2)
    user = await current_user(update, context)
    job_id = None if where.startswith("r") else str(uuid.UUID(where[1:]))
    render_id = int(where[1:]) if where.startswith("r") else None
    try:
        job_id, shown = await off_loop(renders.shown_file, job_id, render_id, user.id)
        if choice in ("colors", "back"):
            await query.answer()
            keyboard = (palette_keyboard(where, language) if choice == "colors"
                        else result_keyboard(where, shown, language))
            await _set_keyboard(query, keyboard)
            return
        wanted = apply_choice(shown, choice)
        svc = services(context)
        rendered = await off_loop(renders.render_job, job_id, user.id, _as_changes(wanted), settings=svc.settings,
                                  storage=svc.storage, limiter=Limiter())
    except CutoutError as exc:
        key = f"render_{exc.code}"
        await query.answer(text(language, key) if key in EN else exc.message, show_alert=True)
        return
    await query.answer()
    await send_rendered(context, query.message, rendered, language)


def _as_changes(options: JobOptions) -> dict:
    return {"mode": options.mode, "bg_color": options.bg_color, "crop": options.crop, "margin": options.margin,
            "format": options.format}


async def send_rendered(context: ContextTypes.DEFAULT_TYPE, message, rendered: renders.RenderedFile,
                        language: str) -> None:
    """The new file as a reply to the one whose button was pressed, with buttons of its own."""
    reply = ReplyParameters(message.message_id, allow_sending_without_reply=True)
    keyboard = result_keyboard(where_of("", rendered.render_id), rendered.options, language)
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
