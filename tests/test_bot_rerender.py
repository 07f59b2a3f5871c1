"""The buttons under a result, through python-telegram-bot's Application and the fake Bot API:
each makes its file from the kept mask without the model, as a reply; a forged or foreign button
is refused; after purge they say so and charge nothing; a priced change is charged."""

from __future__ import annotations

import uuid
from datetime import timedelta

from core import billing, jobs
from core.retention import purge_files
from tests.support.bot_updates import Person
from tests.support.bot_workers import bot_with_workers, data_of, result_of
from tests.support.images import decode


def test_each_button_makes_its_file_as_a_reply_without_running_the_model(sqlite_settings, engine, model_runs):
    with bot_with_workers(sqlite_settings, engine) as bot:
        ann = Person(8101)
        document, job = result_of(bot, ann)
        assert [button["text"] for button in document.buttons] == [
            "White background", "Other colour…", "Sticker", "Crop: on"]  # not "Transparent": it is that
        assert len(model_runs) == 1
        bot.send(ann.press(data_of(document, "White"), message_id=501))
        white = bot.api.wait_for("sendDocument", 2)[-1]
        image = decode(white.files["document"][1])
        assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)
        assert '"message_id": 501' in str(white.params["reply_parameters"]).replace("'", '"')
        assert "Transparent PNG" in [button["text"] for button in white.buttons]
        bot.send(ann.press(data_of(document, "Sticker")))
        [sticker] = bot.api.wait_for("sendSticker")
        assert max(decode(sticker.files["sticker"][1]).size) == 512
        bot.send(ann.press(data_of(document, "Crop")))
        cropped = decode(bot.api.wait_for("sendDocument", 3)[-1].files["document"][1])
        assert cropped.width < 90
        bot.send(ann.press(data_of(document, "Other colour")))
        [palette] = bot.api.wait_for("editMessageReplyMarkup")
        bot.send(ann.press(data_of(palette, "Black")))
        black = decode(bot.api.wait_for("sendDocument", 4)[-1].files["document"][1])
        assert black.getpixel((0, 0)) == (0, 0, 0)
        assert len(model_runs) == 1  # four new files, no second run of the model
        bot.assert_no_errors()


def test_a_forged_or_foreign_button_is_refused(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine) as bot:
        ann, bob = Person(8102), Person(8103, first_name="Bob")
        document, job = result_of(bot, ann)
        bot.send(bob.text("/start"))
        bot.send(bob.press(data_of(document, "Sticker")))  # Ann's button, pressed by Bob
        bot.send(bob.press(f"rs:j{uuid.uuid4().hex}:mode:sticker"))  # no such photo
        bot.send(bob.press("rs:r1:mode:sticker"))  # nobody's render
        answers = bot.api.wait_for("answerCallbackQuery", 3)
        assert [call.params.get("text") for call in answers] == ["That is not one of your photos."] * 3
        assert not bot.api.calls_to("sendSticker")


def test_after_purge_the_buttons_say_so_and_charge_nothing(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine, price_per_render=1) as bot:
        ann = Person(8104)
        document, job = result_of(bot, ann)
        before = billing.balance(job.user_id).total
        assert purge_files(bot.storage, timedelta(seconds=-1)) == 1
        bot.send(ann.press(data_of(document, "Sticker")))
        [answer] = bot.api.wait_for("answerCallbackQuery")
        assert "no longer stored" in answer.params["text"] and answer.params["show_alert"] in (True, "true")
        assert billing.balance(job.user_id).total == before and not bot.api.calls_to("sendSticker")


def test_a_change_costs_price_per_render(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine, price_per_render=1) as bot:
        ann = Person(8105)
        document, job = result_of(bot, ann)
        before = billing.balance(job.user_id).total
        bot.send(ann.press(data_of(document, "Sticker")))
        bot.api.wait_for("sendSticker")
        assert billing.balance(job.user_id).total == before - 1


def test_a_hex_code_sent_after_the_button_colours_that_photo(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine) as bot:
        ann = Person(8106)
        document, job = result_of(bot, ann)
        bot.send(ann.text("#123456"))  # no button pressed: just the usual hint
        assert bot.api.sent_texts()[-1].startswith("Send me a photo")
        bot.send(ann.press(data_of(document, "Other colour")))
        [palette] = bot.api.wait_for("editMessageReplyMarkup")
        bot.send(ann.press(data_of(palette, "Send a hex code")))
        assert bot.api.sent_texts()[-1] == "Send the colour as a hex code, like #1e88e5."
        bot.send(ann.text("#1E88E5"))
        coloured = decode(bot.api.wait_for("sendDocument", 2)[-1].files["document"][1])
        assert coloured.getpixel((0, 0)) == (30, 136, 229)
        bot.assert_no_errors()


def test_a_file_telegram_refuses_to_take_is_not_charged(sqlite_settings, engine):
    from core.audit import check_ledger
    from core.models import Render

    with bot_with_workers(sqlite_settings, engine, price_per_render=1) as bot:
        ann = Person(8107)
        document, job = result_of(bot, ann)
        before = billing.balance(job.user_id).total
        bot.api.fail_next("sendSticker", 400, "Bad Request: wrong file")
        bot.send(ann.press(data_of(document, "Sticker")))
        [answer] = bot.api.wait_for("answerCallbackQuery")
        assert answer.params["text"] == "I could not send that file; nothing was charged. Try again."
        assert billing.balance(job.user_id).total == before
        assert Render.get().refunded_at is not None and check_ledger() == []


def test_a_product_shot_and_a_picture_behind_it_from_the_colour_menu(sqlite_settings, engine, model_runs):
    from PIL import Image

    from tests.support.images import encode

    with bot_with_workers(sqlite_settings, engine) as bot:
        ann = Person(8108)
        document, job = result_of(bot, ann)
        bot.send(ann.press(data_of(document, "Other colour")))
        [palette] = bot.api.wait_for("editMessageReplyMarkup")
        bot.send(ann.press(data_of(palette, "Product shot")))
        shot = decode(bot.api.wait_for("sendDocument", 2)[-1].files["document"][1]).convert("RGB")
        red = [x for x in range(shot.width) if shot.getpixel((x, shot.height // 2))[1] < 100]
        assert shot.getpixel((1, 1)) == (255, 255, 255) and max(red) - min(red) > 55  # 45 px wide before
        bot.send(ann.press(data_of(palette, "On a picture")))
        assert bot.api.sent_texts()[-1] == "Send me the photo to put behind it."
        lawn = bot.api.add_file(encode(Image.new("RGB", (300, 200), (0, 160, 0)), "JPEG", quality=95))
        bot.send(ann.photo(lawn))
        behind_call = bot.api.wait_for("sendDocument", 3)[-1]
        behind = decode(behind_call.files["document"][1]).convert("RGB")
        assert all(b["callback_data"].startswith(f"rs:j{job.id.replace('-', '')}") for b in behind_call.buttons)
        assert behind.getpixel((2, 2))[1] > 140 and behind.getpixel((2, 2))[0] < 30
        assert len(model_runs) == 1 and len(jobs.list_jobs(job.user_id).items) == 1  # the lawn made no job
        bot.assert_no_errors()
