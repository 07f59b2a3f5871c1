"""A personal sticker pack: "Add to my sticker pack" under a sticker puts it into the person's set
on Telegram (made the first time with createNewStickerSet, then addStickerToSet; a full or
vanished set is followed by the next), an emoji sent next changes its emoji and that of the
stickers after it, "Remove" takes it out again, and /stickers lists the sets as t.me links.

Callback data: `sp:a:<file>` (the file as bot/rerender.py names it) and `sp:d:<sticker id>`;
whose file or sticker it is is looked up, never trusted. Every Bot API refusal becomes a clear
message (telegram_text)."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
import uuid

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, InputSticker, Message, Update
from telegram.constants import StickerFormat
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.delivery import retry_seconds
from bot.rerender import PACK, pack_button, where_of
from bot.services import PRIVATE, current_user, is_not_modified, language_of, off_loop, services
from bot.texts import text
from core import stickers
from core.errors import CutoutError, JobNotFound, NotASticker, ResultGone, StickerNotFound
from core.stickers import StickerSetView, StickerView
from core.views import UserView

logger = logging.getLogger(__name__)

PATTERN = re.compile(rf"^{PACK}:(?:a:(j[0-9a-f]{{32}}|r\d{{1,12}})|d:(\d{{1,12}}))$")
PENDING_EMOJI = "pack_emoji"  # user_data: the sticker just added, whose emoji the next emoji sets
SET_TRIES = 4  # sets tried for one sticker: a full one, a vanished one, a name taken before...
LOOKUP_TRIES = 3
MAX_EMOJI_LENGTH = 16  # code points: one emoji with skin tone and joiners fits


def is_emoji(value: str) -> bool:
    """True for a message that is one emoji (or a few), and nothing else."""
    value = value.strip()
    if not value or len(value) > MAX_EMOJI_LENGTH:
        return False
    symbols = 0
    for char in value:
        point = ord(char)
        if char in "\u200d\ufe0f\u20e3" or 0x1F3FB <= point <= 0x1F3FF or 0xE0020 <= point <= 0xE007F:
            continue  # joiners, variation selectors, skin tones, tags
        if unicodedata.category(char) != "So":
            return False
        symbols += 1
    return symbols > 0


class _Emoji(filters.MessageFilter):
    def filter(self, message: Message) -> bool:
        return bool(message.text) and is_emoji(message.text)


EMOJI = _Emoji(name="emoji")


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """"Add to my sticker pack" or "Remove from my sticker pack" under a sticker."""
    match = PATTERN.match(update.callback_query.data or "")
    if match.group(1):
        await _add(update, context, match.group(1))
    else:
        await _remove(update, context, int(match.group(2)))


async def _add(update: Update, context: ContextTypes.DEFAULT_TYPE, where: str) -> None:
    query, language = update.callback_query, language_of(update)
    user, svc = await current_user(update, context), services(context)
    job_id = str(uuid.UUID(where[1:])) if where.startswith("j") else None
    render_id = int(where[1:]) if where.startswith("r") else None
    try:
        job_id, data = await off_loop(stickers.sticker_file, job_id, render_id, user.id, settings=svc.settings,
                                      storage=svc.storage)
    except CutoutError as exc:
        await query.answer(_refusal(language, exc), show_alert=True)
        return
    added = await off_loop(stickers.in_pack, user.id, job_id, render_id)
    if added is not None:
        await query.answer(text(language, "pack_already"), show_alert=True)
        await _swap_button(query, _remove_button(added.id, language))
        return
    emoji = await off_loop(stickers.next_emoji, user.id)
    try:
        added, pack = await _put_in_pack(context, user, job_id, render_id, data, emoji, language)
    except TelegramError as exc:
        logger.warning("sticker of %s not added to a set of user %s: %s", where, user.id, exc)
        await query.answer(telegram_text(language, exc, emoji), show_alert=True)
        return
    await query.answer()
    context.user_data[PENDING_EMOJI] = added.id
    await _swap_button(query, _remove_button(added.id, language))
    await query.message.reply_text(text(language, "pack_added", title=pack.title, emoji=emoji, link=pack.link))


async def _put_in_pack(context: ContextTypes.DEFAULT_TYPE, user: UserView, job_id: str, render_id: int | None,
                       data: bytes, emoji: str, language: str) -> tuple[StickerView, StickerSetView]:
    """Add the sticker to the person's current set, making the next set when there is none or
    Telegram takes no more into it; record it with the file id Telegram gave it."""
    bot = context.bot
    for _ in range(SET_TRIES):
        sticker = InputSticker(InputFile(data, filename="sticker.webp", attach=True), [emoji], StickerFormat.STATIC)
        pack, known = await off_loop(stickers.current_set, user.id), set()
        if pack is None:
            number = await off_loop(stickers.next_number, user.id)
            name = stickers.set_name(services(context).settings.sticker_set_prefix, user.telegram_id, number,
                                     bot.username)
            title = _title(user, number, language)
            try:
                await bot.create_new_sticker_set(user.telegram_id, name, title, [sticker])
            except BadRequest as exc:
                if "occupied" not in exc.message.lower():
                    raise
                # Made before and not recorded (or someone else's): try it; if it is not theirs, it
                # refuses the sticker and the next number is tried.
                await off_loop(stickers.record_set, user.id, name, title, number)
                continue
            pack = await off_loop(stickers.record_set, user.id, name, title, number)
        else:
            known = {s.file_unique_id for s in (await bot.get_sticker_set(pack.name)).stickers}
            try:
                await bot.add_sticker_to_set(user.telegram_id, pack.name, sticker)
            except BadRequest as exc:
                if not _set_closed(exc):
                    raise
                logger.info("sticker set %s takes no more (%s); starting the next", pack.name, exc.message)
                await off_loop(stickers.mark_full, pack.id)
                continue
        file_id = await _new_sticker(bot, pack.name, known)
        added = await off_loop(stickers.record_sticker, pack.id, user.id, job_id, render_id, file_id, emoji)
        return added, pack
    raise BadRequest("no sticker set would take the sticker")


async def _new_sticker(bot, name: str, known: set[str]) -> str:
    """The file id of the sticker just added: the set's newest one that was not there before (a
    lookup that fails is tried again: the sticker is in the set, and must be recorded to be removable)."""
    for attempt in range(LOOKUP_TRIES):
        try:
            found = (await bot.get_sticker_set(name)).stickers
            break
        except TelegramError as exc:
            if isinstance(exc, BadRequest) or attempt == LOOKUP_TRIES - 1:
                raise
            await asyncio.sleep(attempt + 1)
    new = [s for s in found if s.file_unique_id not in known]
    return (new or found)[-1].file_id


def _set_closed(exc: BadRequest) -> bool:
    """Telegram's answers for a full set, a set the person deleted, and a set that is not theirs."""
    message = exc.message.lower()
    return any(sign in message for sign in ("too_much", "too much", "stickerset_invalid", "user_id_invalid"))


def _title(user: UserView, number: int, language: str) -> str:
    name = user.first_name or user.username or str(user.telegram_id)
    title = text(language, "pack_title", name=name[:40])
    return f"{title} {number}" if number > 1 else title


async def _remove(update: Update, context: ContextTypes.DEFAULT_TYPE, sticker_id: int) -> None:
    query, language = update.callback_query, language_of(update)
    user = await current_user(update, context)
    try:
        sticker = await off_loop(stickers.owned_sticker, sticker_id, user.id)
    except StickerNotFound as exc:
        await query.answer(_refusal(language, exc), show_alert=True)
        return
    try:
        await context.bot.delete_sticker_from_set(sticker.file_id)
    except BadRequest as exc:  # taken out already elsewhere (@Stickers) is what was wanted
        if "invalid" not in exc.message.lower() and "not found" not in exc.message.lower():
            await query.answer(telegram_text(language, exc), show_alert=True)
            return
    except TelegramError as exc:
        await query.answer(telegram_text(language, exc), show_alert=True)
        return
    await off_loop(stickers.record_removal, sticker.id)
    await query.answer(text(language, "pack_removed"))
    await _swap_button(query, pack_button(where_of(sticker.job_id, sticker.render_id), language))


def _remove_button(sticker_id: int, language: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text(language, "opt_remove_from_pack"), callback_data=f"{PACK}:d:{sticker_id}")


async def _swap_button(query, button: InlineKeyboardButton) -> None:
    """Put `button` in place of the pack's button under the pressed message (the others stay)."""
    markup = query.message.reply_markup
    rows = [[b for b in row if not (b.callback_data or "").startswith(f"{PACK}:")]
            for row in (markup.inline_keyboard if markup else ())]
    rows = [row for row in rows if row] + [[button]]
    try:
        await query.edit_message_reply_markup(reply_markup=InlineKeyboardMarkup(rows))
    except BadRequest as exc:
        if not is_not_modified(exc):
            logger.info("buttons of message %s not changed: %s", query.message.message_id, exc)


async def on_emoji(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An emoji: the emoji of the sticker just added and of the next ones."""
    language, emoji = language_of(update), update.effective_message.text.strip()
    user = await current_user(update, context)
    pending = context.user_data.pop(PENDING_EMOJI, None)
    if pending is None:
        if not await off_loop(stickers.sticker_sets, user.id):
            await update.effective_message.reply_text(text(language, "text_hint"))
            return
        await off_loop(stickers.set_emoji, user.id, emoji)
        await update.effective_message.reply_text(text(language, "pack_emoji_default", emoji=emoji))
        return
    try:
        sticker = await off_loop(stickers.owned_sticker, pending, user.id)
        await context.bot.set_sticker_emoji_list(sticker.file_id, [emoji])
    except StickerNotFound as exc:
        await update.effective_message.reply_text(_refusal(language, exc))
        return
    except TelegramError as exc:
        await update.effective_message.reply_text(telegram_text(language, exc, emoji))
        return
    await off_loop(stickers.set_emoji, user.id, emoji, sticker.id)
    await update.effective_message.reply_text(text(language, "pack_emoji_changed", emoji=emoji))


async def list_sets(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stickers: the person's sets as t.me/addstickers links."""
    language = language_of(update)
    user = await current_user(update, context)
    sets = await off_loop(stickers.sticker_sets, user.id)
    if not sets:
        await update.effective_message.reply_text(text(language, "pack_none"))
        return
    lines = [text(language, "pack_list_item", title=s.title, count=s.stickers, link=s.link) for s in sets]
    await update.effective_message.reply_text(text(language, "pack_list", sets="\n".join(lines)),
                                              disable_web_page_preview=True)


REFUSALS = {JobNotFound: "pack_not_yours", NotASticker: "pack_not_a_sticker", ResultGone: "pack_gone",
            StickerNotFound: "pack_not_found"}


def _refusal(language: str, exc: CutoutError) -> str:
    key = REFUSALS.get(type(exc))
    return text(language, key) if key else exc.message


def telegram_text(language: str, exc: TelegramError, emoji: str = "") -> str:
    """A Bot API refusal of a sticker call, said plainly."""
    if isinstance(exc, RetryAfter):
        return text(language, "pack_slow_down", seconds=round(retry_seconds(exc)))
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
        return text(language, "pack_unreachable")
    reason = exc.message.removeprefix("Bad Request: ")
    if "emoji" in reason.lower():
        return text(language, "pack_bad_emoji", emoji=emoji)
    if any(sign in reason.lower() for sign in ("sticker_png", "file", "dimensions", "webp", "too big")):
        return text(language, "pack_bad_file", reason=reason)
    return text(language, "pack_refused", reason=reason)


def register(application: Application) -> None:
    application.add_handler(CallbackQueryHandler(on_press, pattern=PATTERN))
    application.add_handler(CommandHandler("stickers", list_sets, filters=PRIVATE))
    application.add_handler(MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND & EMOJI, on_emoji))
