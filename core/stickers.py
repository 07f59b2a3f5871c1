"""Personal sticker packs: the sets the bot made on Telegram for a person, which of their results
are in them, and the emoji their next sticker gets. Talking to Telegram is the bot's part
(bot/stickers.py); the record and its rules are here."""

from __future__ import annotations

from dataclasses import dataclass

from peewee import IntegrityError, fn

from core import renders, results
from core.db import db
from core.errors import JobNotFound, NotASticker, StickerNotFound
from core.jobs import get_job
from core.models import Sticker, StickerSet, User, utcnow
from core.settings import Settings
from core.storage import Store

SET_LIMIT = 120  # Telegram's most static stickers in one set
DEFAULT_EMOJI = "✨"
NAME_LIMIT, TITLE_LIMIT = 64, 64
LINK = "https://t.me/addstickers/"


@dataclass(frozen=True)
class StickerSetView:
    id: int
    name: str
    title: str
    number: int
    stickers: int
    full: bool

    @property
    def link(self) -> str:
        return LINK + self.name

    @classmethod
    def of(cls, row: StickerSet) -> StickerSetView:
        return cls(row.id, row.name, row.title, row.number, row.stickers, row.full)


@dataclass(frozen=True)
class StickerView:
    id: int
    set_name: str
    file_id: str
    emoji: str
    job_id: str
    render_id: int | None

    @classmethod
    def of(cls, row: Sticker) -> StickerView:
        return cls(row.id, row.sticker_set.name, row.file_id, row.emoji, str(row.job_id), row.render_id)


def set_name(prefix: str, telegram_id: int, number: int, bot_username: str) -> str:
    """The person's `number`th set: <prefix>_<telegram id>[_<number>]_by_<bot username>, within
    Telegram's rules (a letter first, then letters, digits and single underscores; at most 64)."""
    person = f"{telegram_id}" + (f"_{number}" if number > 1 else "")
    suffix = f"_{person}_by_{bot_username}"
    return (prefix if len(prefix) + len(suffix) <= NAME_LIMIT else prefix[0]) + suffix


def current_set(user_id: int) -> StickerSetView | None:
    """The person's newest set that still takes stickers, if any."""
    row = (StickerSet.select().where(StickerSet.user == user_id, ~StickerSet.full)
           .order_by(StickerSet.number.desc()).first())
    return StickerSetView.of(row) if row else None


def next_number(user_id: int) -> int:
    """The number the person's next set gets."""
    return (StickerSet.select(fn.MAX(StickerSet.number)).where(StickerSet.user == user_id).scalar() or 0) + 1


def record_set(user_id: int, name: str, title: str, number: int, *, full: bool = False) -> StickerSetView:
    """Remember a set made on Telegram (or, `full`, a name Telegram has taken already)."""
    try:
        with db.atomic():
            row = StickerSet.create(user=user_id, name=name, title=title[:TITLE_LIMIT], number=number, full=full)
    except IntegrityError:  # recorded already
        row = StickerSet.get(StickerSet.name == name)
    return StickerSetView.of(row)


def mark_full(set_id: int) -> None:
    """Telegram takes no more stickers into this set (it is full, or gone): the next sticker starts another."""
    StickerSet.update(full=True).where(StickerSet.id == set_id).execute()


def in_pack(user_id: int, job_id: str, render_id: int | None) -> StickerView | None:
    """The person's sticker made from this file, while it is in one of their sets."""
    row = (Sticker.select().where(Sticker.user == user_id, Sticker.job == job_id, Sticker.render == render_id,
                                  Sticker.removed_at.is_null()).first())
    return StickerView.of(row) if row else None


def record_sticker(set_id: int, user_id: int, job_id: str, render_id: int | None, file_id: str,
                   emoji: str) -> StickerView:
    """Remember a sticker added to a set; the set counts as full at Telegram's limit."""
    with db.atomic():
        row = Sticker.create(sticker_set=set_id, user=user_id, job=job_id, render=render_id, file_id=file_id,
                             emoji=emoji)
        StickerSet.update(stickers=StickerSet.stickers + 1).where(StickerSet.id == set_id).execute()
        StickerSet.update(full=True).where(StickerSet.id == set_id, StickerSet.stickers >= SET_LIMIT).execute()
    return StickerView.of(row)


def owned_sticker(sticker_id: int, user_id: int) -> StickerView:
    """A sticker of this person's that is in a set; StickerNotFound otherwise (a forged button too)."""
    row = Sticker.get_or_none(Sticker.id == sticker_id, Sticker.user == user_id, Sticker.removed_at.is_null())
    if row is None:
        raise StickerNotFound("That sticker is not in your pack.")
    return StickerView.of(row)


def record_removal(sticker_id: int) -> bool:
    """Remember that a sticker left its set; False if it had already."""
    with db.atomic():
        row = Sticker.get_or_none(Sticker.id == sticker_id)
        if row is None or Sticker.update(removed_at=utcnow()).where(
                Sticker.id == sticker_id, Sticker.removed_at.is_null()).execute() == 0:
            return False
        StickerSet.update(stickers=StickerSet.stickers - 1).where(StickerSet.id == row.sticker_set_id).execute()
    return True


def next_emoji(user_id: int) -> str:
    """The emoji the person's next sticker gets."""
    return User.get_by_id(user_id).sticker_emoji or DEFAULT_EMOJI


def set_emoji(user_id: int, emoji: str, sticker_id: int | None = None) -> None:
    """The emoji of the person's next stickers, and of `sticker_id` (theirs) when given."""
    with db.atomic():
        User.update(sticker_emoji=emoji).where(User.id == user_id).execute()
        if sticker_id is not None:
            Sticker.update(emoji=emoji).where(Sticker.id == sticker_id, Sticker.user == user_id).execute()


def sticker_sets(user_id: int) -> list[StickerSetView]:
    """The sets the bot made for the person, the first first (names Telegram had taken left out)."""
    query = StickerSet.select().where(StickerSet.user == user_id).order_by(StickerSet.number)
    return [StickerSetView.of(row) for row in query if row.members.count() or not row.full]


def sticker_file(job_id: str | None, render_id: int | None, user_id: int, *, settings: Settings,
                 storage: Store) -> tuple[str, bytes]:
    """(job id, WebP) of the sticker a person is looking at: a job's stored result, or a re-render's
    made again from the kept mask (free: it was paid for when made). JobNotFound when it is not
    theirs, NotASticker for another kind of file, ResultGone once purged."""
    job_id, options = renders.shown_file(job_id, render_id, user_id)
    if options.mode != "sticker":
        raise NotASticker("Only a sticker can go into your sticker pack.")
    if render_id is None:
        return job_id, results.result_file(job_id, storage, user_id).data
    job = get_job(job_id, user_id)
    if not job.mask_key:
        raise JobNotFound()
    return job_id, renders.made_again(job, options, settings=settings, storage=storage).data

