"""A personal sticker pack through python-telegram-bot's Application, the fake Bot API (which
refuses what Telegram refuses) and the real worker: the first sticker makes the person's set, the
next goes into it, a full set rolls over, an emoji changes a sticker's, a sticker can be taken
out, /stickers lists the sets, and a foreign or forged button is refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from core import accounts, stickers
from core.retention import purge_files
from tests.support.bot_updates import Person
from tests.support.bot_workers import bot_with_workers, data_of, result_of
from tests.support.fake_bot_api import BOT_USERNAME, SET_NAME
from tests.support.images import decode

ADD, REMOVE = "➕ Add to my sticker pack", "➖ Remove from my sticker pack"


def a_sticker(bot, person: Person, count: int = 1):
    """The person's photo made into a sticker (its sendSticker call, the count-th)."""
    document, _ = result_of(bot, person, count)
    bot.send(person.press(data_of(document, "Sticker")))
    return bot.api.wait_for("sendSticker", count)[-1]


def add(bot, person: Person, sticker_call, message_id: int = 700):
    bot.send(person.press(data_of(sticker_call, ADD), message_id=message_id))


def answers(bot) -> list[str | None]:
    return [call.params.get("text") for call in bot.api.calls_to("answerCallbackQuery")]


def test_a_sticker_makes_the_persons_set_and_the_next_goes_into_it(settings, engine):
    with bot_with_workers(settings, engine) as bot:
        ann = Person(8201)
        first = a_sticker(bot, ann)
        assert ADD in [button["text"] for button in first.buttons]
        add(bot, ann, first)
        [created] = bot.api.calls_to("createNewStickerSet")
        name = f"cutout_8201_by_{BOT_USERNAME}"
        assert created.params["name"] == name and int(created.params["user_id"]) == 8201
        [member] = bot.api.set_stickers(name)
        image = decode(member["content"])
        assert image.format == "WEBP" and max(image.size) == 512 and member["emoji_list"] == ["✨"]
        said = bot.api.sent_texts()[-1]
        assert f"https://t.me/addstickers/{name}" in said
        [swapped] = bot.api.calls_to("editMessageReplyMarkup")
        assert [b["text"] for b in swapped.buttons][-1] == REMOVE
        second = a_sticker(bot, ann, 2)
        add(bot, ann, second, message_id=701)
        assert len(bot.api.calls_to("addStickerToSet")) == 1 and len(bot.api.calls_to("createNewStickerSet")) == 1
        assert len(bot.api.set_stickers(name)) == 2
        add(bot, ann, first)  # the same sticker again
        assert answers(bot)[-1] == "This sticker is in your pack already."
        assert len(bot.api.set_stickers(name)) == 2
        bot.assert_no_errors()


def test_a_full_set_starts_the_next_and_stickers_lists_both(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine) as bot:
        bot.api.sticker_set_limit = 1  # Telegram says STICKERS_TOO_MUCH at its limit; here at once
        ann = Person(8202)
        add(bot, ann, a_sticker(bot, ann))
        add(bot, ann, a_sticker(bot, ann, 2))
        names = [call.params["name"] for call in bot.api.calls_to("createNewStickerSet")]
        assert names == [f"cutout_8202_by_{BOT_USERNAME}", f"cutout_8202_2_by_{BOT_USERNAME}"]
        assert [len(bot.api.set_stickers(name)) for name in names] == [1, 1]
        bot.send(ann.text("/stickers"))
        listing = bot.api.sent_texts()[-1]
        assert all(f"https://t.me/addstickers/{name}" in listing for name in names)
        assert "Ann's cut-outs 2" in listing
        bot.assert_no_errors()


def test_a_name_taken_on_telegram_by_someone_else_moves_on_to_the_next(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine) as bot:
        taken = f"cutout_8209_by_{BOT_USERNAME}"
        bot.api.sticker_sets[taken.lower()] = {"name": taken, "title": "Not Ann's", "owner": 1, "stickers": []}
        ann = Person(8209)
        add(bot, ann, a_sticker(bot, ann))
        assert bot.api.set_stickers(taken) == []
        assert len(bot.api.set_stickers(f"cutout_8209_2_by_{BOT_USERNAME}")) == 1
        bot.send(ann.text("/stickers"))
        assert taken not in bot.api.sent_texts()[-1]
        bot.assert_no_errors()


def test_an_emoji_sent_next_changes_the_stickers_and_the_next_ones(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine) as bot:
        ann = Person(8203)
        add(bot, ann, a_sticker(bot, ann))
        bot.send(ann.text("🔥"))
        name = f"cutout_8203_by_{BOT_USERNAME}"
        assert bot.api.set_stickers(name)[0]["emoji_list"] == ["🔥"]
        assert bot.api.sent_texts()[-1] == "Done: that sticker now has 🔥, and so will your next ones."
        add(bot, ann, a_sticker(bot, ann, 2), message_id=702)
        assert bot.api.set_stickers(name)[1]["emoji_list"] == ["🔥"]
        bot.assert_no_errors()


def test_a_sticker_is_taken_out_of_the_set_from_its_message(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine) as bot:
        ann = Person(8204)
        sticker = a_sticker(bot, ann)
        add(bot, ann, sticker)
        [swapped] = bot.api.calls_to("editMessageReplyMarkup")
        bot.send(ann.press(data_of(swapped, REMOVE)))
        assert bot.api.set_stickers(f"cutout_8204_by_{BOT_USERNAME}") == []
        assert answers(bot)[-1] == "Removed from your sticker pack."
        assert [b["text"] for b in bot.api.calls_to("editMessageReplyMarkup")[-1].buttons][-1] == ADD
        bot.send(ann.press(data_of(swapped, REMOVE)))  # pressed again
        assert answers(bot)[-1] == "That sticker is not in your pack any more."
        add(bot, ann, sticker)  # and back in again
        assert len(bot.api.set_stickers(f"cutout_8204_by_{BOT_USERNAME}")) == 1
        bot.assert_no_errors()


def test_a_foreign_or_forged_pack_button_is_refused(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine) as bot:
        ann, bob = Person(8205), Person(8206, first_name="Bob", username="bob")
        sticker = a_sticker(bot, ann)
        add(bot, ann, sticker)
        [swapped] = bot.api.calls_to("editMessageReplyMarkup")
        bot.send(bob.text("/start"))
        bot.send(bob.press(data_of(sticker, ADD)))  # Ann's sticker, Bob's tap
        bot.send(bob.press(data_of(swapped, REMOVE)))
        assert answers(bot)[-2:] == ["That is not your sticker.", "That sticker is not in your pack any more."]
        assert len(bot.api.calls_to("createNewStickerSet")) == 1 and not bot.api.calls_to("deleteStickerFromSet")
        document = bot.api.calls_to("sendDocument")[0]
        bot.send(ann.press(data_of(document, "Sticker").replace("rs:", "sp:a:").replace(":mode:sticker", "")))
        assert answers(bot)[-1] == "Only a sticker can go into your pack; tap “Sticker” first."


@pytest.mark.parametrize(("description", "said"), [
    ("Bad Request: STICKER_PNG_DIMENSIONS", "Telegram did not accept this sticker's file (Sticker_png_dimensions)."),
    ("Bad Request: STICKER_EMOJI_INVALID", "Telegram does not accept ✨ as a sticker's emoji; try another."),
    ("Forbidden: bot was blocked by the user", "Telegram refused that: Forbidden: bot was blocked by the user. "
                                               "Try again later."),
])
def test_a_bot_api_refusal_becomes_a_clear_answer(sqlite_settings, engine, description, said):
    with bot_with_workers(sqlite_settings, engine) as bot:
        ann = Person(8207)
        status = 403 if description.startswith("Forbidden") else 400
        bot.api.fail_next("createNewStickerSet", status, description)
        add(bot, ann, a_sticker(bot, ann))
        assert answers(bot)[-1] == said
        assert stickers.sticker_sets(accounts.get_user_by_telegram_id(ann.id).id) == []


def test_after_purge_the_pack_button_says_the_photo_is_gone(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine) as bot:
        ann = Person(8208)
        sticker = a_sticker(bot, ann)
        purge_files(bot.storage, timedelta(seconds=-1))
        add(bot, ann, sticker)
        assert answers(bot)[-1] == "This photo is no longer stored; send it again to make a new sticker."
        assert not bot.api.calls_to("createNewStickerSet")


def test_set_names_keep_telegrams_rules_for_long_ids_and_bot_names():
    for prefix, telegram_id, number, bot_name in [("cutout", 5001, 1, "cutout_bot"),
                                                  ("abcdefghij", 9_999_999_999_999, 12, "b" * 32)]:
        name = stickers.set_name(prefix, telegram_id, number, bot_name)
        assert len(name) <= 64 and SET_NAME.fullmatch(name) and name.endswith(f"_by_{bot_name}")
        assert re.search(rf"_{telegram_id}(_{number})?_by_", name)
