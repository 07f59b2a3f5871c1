"""What comes in through the bot: a HEIC file Telegram could not name, an animation's first frame,
and a compressed photo whose result says once that a file keeps the full resolution."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.texts import text
from core import accounts, jobs
from tests.support.bot_harness import wait_until
from tests.support.bot_updates import Person
from tests.support.bot_workers import bot_with_workers
from tests.support.icc import adobe_rgb_profile
from tests.support.images import decode, encode, subject_image


@pytest.fixture
def bot(sqlite_settings, engine):
    with bot_with_workers(sqlite_settings, engine) as harness:
        yield harness


def heic(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "HEIF", quality=90, **params)
    return buffer.getvalue()


def delivered(bot, person: Person, count: int):
    """The `count`th document the person got, once its job is recorded as delivered, and the job."""
    document = bot.api.wait_for("sendDocument", count, timeout=30)[count - 1]
    job = jobs.list_jobs(accounts.get_user_by_telegram_id(person.id).id).items[0]
    wait_until(lambda: jobs.get_job(job.id).delivered_at)
    return document, job


def test_an_untyped_heic_file_is_cut_out_in_its_own_colours(bot):
    ann = Person(7101)
    bot.send(ann.text("/start"))
    profile = adobe_rgb_profile()
    file_id = bot.api.add_file(heic(subject_image((90, 60)), icc_profile=profile), name="IMG_0042.HEIC")
    bot.send(ann.document(file_id, "IMG_0042.HEIC", "application/octet-stream"))
    document, job = delivered(bot, ann, 1)
    name, data = document.files["document"]
    assert name == "IMG_0042-cutout.png" and job.input_format == "HEIF"
    assert decode(data).info.get("icc_profile") == profile
    assert text("en", "send_as_file_tip") not in document.params.get("caption", "")  # a file already


def test_an_animation_sent_as_a_file_says_that_its_first_frame_is_cut_out(bot):
    bob = Person(7102)
    bot.send(bob.text("/start"))
    frames = [subject_image((90, 60)), Image.new("RGB", (90, 60), (20, 30, 40))]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    bot.send(bob.document(bot.api.add_file(data, name="wave.webp"), "wave.webp", "image/webp"))
    wait_until(lambda: any(text("en", "first_frame_only") in (t or "") for t in bot.api.sent_texts()))
    _, job = delivered(bot, bob, 1)
    assert job.first_frame_only


@pytest.mark.parametrize(("mime", "taken"), [("image/gif", True), ("video/mp4", False)])
def test_a_gif_telegram_kept_is_cut_out_and_one_it_made_a_video_is_not(bot, mime, taken):
    fay = Person(7106 if taken else 7107)
    bot.send(fay.text("/start"))
    frames = [subject_image((90, 60)), Image.new("RGB", (90, 60), (20, 30, 40))]
    file_id = bot.api.add_file(encode(frames[0], "GIF", save_all=True, append_images=frames[1:]), name="wave.gif")
    media = {"file_id": file_id, "file_unique_id": "g", "file_name": "wave.gif", "mime_type": mime}
    bot.send(fay._update(message=fay._message(animation={**media, "width": 90, "height": 60, "duration": 1},
                                              document=media)))
    if taken:
        _, job = delivered(bot, fay, 1)
        assert job.first_frame_only and job.input_format == "GIF"
    else:
        wait_until(lambda: text("en", "unsupported") in bot.api.sent_texts())
        assert not jobs.list_jobs(accounts.get_user_by_telegram_id(fay.id).id).items


def test_a_photo_telegram_made_smaller_gets_the_tip_once(bot):
    cleo = Person(7103)
    bot.send(cleo.text("/start"))
    compressed = encode(subject_image((1280, 853)), "JPEG")
    tip = text("en", "send_as_file_tip")
    bot.send(cleo.photo(bot.api.add_file(compressed)))
    first, _ = delivered(bot, cleo, 1)
    assert first.params["caption"] == f"{text('en', 'result_caption')}\n\n{tip}"
    bot.send(cleo.photo(bot.api.add_file(compressed)))
    second, _ = delivered(bot, cleo, 2)
    assert second.params["caption"] == text("en", "result_caption")  # said once, remembered


def test_the_tip_survives_a_send_that_failed_and_is_not_spent_on_a_sticker(bot):
    eve = Person(7105)
    bot.send(eve.text("/start"))
    compressed = encode(subject_image((1280, 853)), "JPEG")
    user = accounts.get_user_by_telegram_id(eve.id)
    accounts.set_options(user.id, {"mode": "sticker"})
    bot.send(eve.photo(bot.api.add_file(compressed)))
    bot.api.wait_for("sendSticker", 1, timeout=30)
    accounts.set_options(user.id, {"mode": "png"})
    bot.api.fail_next("sendDocument", 500, "Internal Server Error")  # the first try of the next result
    bot.send(eve.photo(bot.api.add_file(compressed)))
    document, _ = delivered(bot, eve, 2)  # the failed try, then the one that went through
    tip = text("en", "send_as_file_tip")
    assert document.params["caption"] == f"{text('en', 'result_caption')}\n\n{tip}"


def test_a_small_photo_needs_no_tip(bot):
    dan = Person(7104)
    bot.send(dan.text("/start"))
    bot.send(dan.photo(bot.api.add_file(encode(subject_image((640, 427)), "JPEG"))))
    document, _ = delivered(bot, dan, 1)
    assert document.params["caption"] == text("en", "result_caption")  # Telegram did not shrink it
