"""/settings: an inline keyboard for the output of the user's next photos."""

from __future__ import annotations

import dataclasses
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.services import PRIVATE, current_user, is_not_modified, language_of, off_loop
from bot.texts import text
from core import accounts
from core.options import JobOptions

logger = logging.getLogger(__name__)

PREFIX = "opt"
WHITE = "#ffffff"
PALETTE = ("#ffffff", "#000000", "#808080", "#e53935", "#43a047", "#1e88e5", "#fdd835", "#ec407a")


def summary(options: JobOptions, language: str) -> str:
    """The options in words ("transparent PNG, not cropped")."""
    if options.mode == "color":
        name = text(language, f"color_{options.bg_color}") if options.bg_color in PALETTE else options.bg_color
        what = text(language, "summary_color", color=name.lower())
    else:
        what = text(language, f"summary_{options.mode}")
    return f"{what}, {text(language, 'summary_crop_on' if options.crop else 'summary_crop_off')}"


def _button(label: str, data: str, chosen: bool = False) -> InlineKeyboardButton:
    return InlineKeyboardButton(("✅ " if chosen else "") + label, callback_data=f"{PREFIX}:{data}")


def main_keyboard(options: JobOptions, language: str) -> InlineKeyboardMarkup:
    """Mode buttons (the current one ticked), the colour menu and the crop switch."""
    mode, colored = options.mode, options.mode == "color"
    return InlineKeyboardMarkup([
        [_button(text(language, "opt_png"), "mode:png", mode == "png"),
         _button(text(language, "opt_sticker"), "mode:sticker", mode == "sticker")],
        [_button(text(language, "opt_white"), "color:ffffff", colored and options.bg_color == WHITE),
         _button(text(language, "opt_colors"), "colors", colored and options.bg_color != WHITE)],
        [_button(text(language, "opt_mask"), "mode:mask", mode == "mask"),
         _button(text(language, "opt_crop_on" if options.crop else "opt_crop_off"), "crop")],
    ])


def colors_keyboard(options: JobOptions, language: str) -> InlineKeyboardMarkup:
    """The palette, two colours a row, and a way back."""
    buttons = [_button(text(language, f"color_{color}"), f"color:{color[1:]}",
                       options.mode == "color" and options.bg_color == color) for color in PALETTE]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup([*rows, [_button(text(language, "opt_back"), "back")]])


def apply_choice(options: JobOptions, choice: str) -> JobOptions:
    """The options after pressing a button ("mode:png", "color:000000", "crop")."""
    kind, _, value = choice.partition(":")
    if kind == "mode":
        return dataclasses.replace(options, mode=value)
    if kind == "color":
        return dataclasses.replace(options, mode="color", bg_color=f"#{value}")
    if kind == "crop":
        return dataclasses.replace(options, crop=not options.crop)
    return options


async def show_settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/settings: the current output and the buttons to change it."""
    language = language_of(update)
    user = await current_user(update, context)
    await update.effective_message.reply_text(text(language, "settings", summary=summary(user.options, language)),
                                              reply_markup=main_keyboard(user.options, language))


async def settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A settings button: store the change and redraw the menu."""
    query = update.callback_query
    await query.answer()
    language = language_of(update)
    user = await current_user(update, context)
    choice = query.data.removeprefix(f"{PREFIX}:")
    options = user.options
    if choice == "colors":
        await _redraw(query, text(language, "colors_title"), colors_keyboard(options, language))
        return
    if choice != "back":
        chosen = apply_choice(options, choice)
        if chosen != options:
            options = (await off_loop(accounts.set_options, user.id, chosen)).options
    await _redraw(query, text(language, "settings", summary=summary(options, language)),
                  main_keyboard(options, language))


async def _redraw(query, message: str, markup: InlineKeyboardMarkup) -> None:
    try:
        await query.edit_message_text(message, reply_markup=markup)
    except BadRequest as exc:
        if not is_not_modified(exc):  # pressing the option already chosen changes nothing
            raise


def register(application: Application) -> None:
    """Wire /settings and its buttons."""
    application.add_handler(CommandHandler("settings", show_settings, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(
        settings_button, pattern=rf"^{PREFIX}:(mode:(png|sticker|mask)|color:[0-9a-f]{{6}}|crop|colors|back)$"))
