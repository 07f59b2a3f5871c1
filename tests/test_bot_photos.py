"""Photos in: each becomes a paid, queued job with a status message; everything else gets a clear answer."""

from __future__ import annotations

import pytest

from bot.texts import text
from core import accounts, billing, deliveries, jobs
from core.errors import DatabaseUnavailable
from core.models import Job
from tests.support.bot_harness import running_bot
from tests.support.bot_updates import Person
from tests.support.images import encode, subject_image

MB = 1024 * 1024


@pytest.fixture
def bot(sqlite_settings):
    with running_bot(sqlite_settings) as harness:
        yield harness


@pytest.fixture
def ann(bot):
    person = Person(7001)
    bot.send(person.text("/start"))
    return person


def user_of(person):
    return accounts.get_user_by_telegram_id(person.id)


def png() -> bytes:
    return encode(subject_image(), "PNG")


def test_a_photo_becomes_a_queued_job_with_its_status_message(bot, ann):
    file_id = bot.api.add_file(encode(subject_image(), "JPEG"))
    update = ann.photo(file_id)
    bot.send(update)
    [job] = jobs.list_jobs(user_of(ann).id).items
    assert (job.status, job.source, job.chat_id) == ("queued", "telegram", ann.id)
    assert job.message_id == update["message"]["message_id"] and job.input_name == "photo.jpg"
    assert bot.api.calls_to("getFile")[-1].params["file_id"] == file_id  # the largest size, not the thumbnail
    status = bot.api.calls_to("sendMessage")[-1]
    assert status.text == text("en", "received")
    assert status.params["reply_parameters"]["message_id"] == job.message_id
    edit = bot.api.calls_to("editMessageText")[-1]
    assert edit.text == "In line: #1. I'll update this message."
    assert job.status_message_id == edit.params["message_id"]
    assert bot.queue.depth(bot.settings.input_queue) == 1
    assert user_of(ann).balance.total == 2


def test_the_job_is_published_only_after_its_status_says_queued(bot, ann):
    """A worker's "processing" must never be overwritten by a late "queued"."""
    file_id = bot.api.add_file(png())
    seen = []
    original = bot.queue.publish

    def publish(queue_name, job_id):
        seen.append([c.text for c in bot.api.calls_to("editMessageText")])
        original(queue_name, job_id)

    bot.queue.publish = publish
    bot.send(ann.photo(file_id))
    assert seen == [["In line: #1. I'll update this message."]]


@pytest.mark.parametrize("step", ["set_status_message", "queue_position", "published"])
def test_a_paid_photo_goes_ahead_when_the_database_goes_away_right_after_the_charge(bot, ann, monkeypatch, step):
    """The job and its charge are committed: nobody is told to send it again (a second charge), the
    job is published, and the status says it is in line."""
    def away(*args, **kwargs):
        raise DatabaseUnavailable()

    if step == "published":
        monkeypatch.setattr(jobs, "_mark_published", away)
    else:
        monkeypatch.setattr(deliveries if step == "set_status_message" else jobs, step, away)
    bot.send(ann.photo(bot.api.add_file(png())))
    [job] = jobs.list_jobs(user_of(ann).id).items
    assert job.status == "queued" and user_of(ann).balance.total == 2
    assert bot.queue.depth(bot.settings.input_queue) == 1
    replies = bot.api.sent_texts()
    assert text("en", "unavailable") not in replies and text("en", "try_again") not in replies
    assert replies[-1] in ("In line: #1. I'll update this message.", text("en", "status_queued_later"))


def test_an_image_sent_as_a_document_becomes_a_job_named_after_the_file(bot, ann):
    file_id = bot.api.add_file(png(), name="cat.png")
    bot.send(ann.document(file_id, "cat.png", "image/png"))
    [job] = jobs.list_jobs(user_of(ann).id).items
    assert job.input_name == "cat.png" and job.width == 120 and job.height == 80
    assert bot.api.calls_to("download")


def test_the_job_uses_the_output_chosen_in_settings(bot, ann):
    bot.send(ann.press("opt:mode:sticker"))
    bot.send(ann.photo(bot.api.add_file(png())))
    [job] = jobs.list_jobs(user_of(ann).id).items
    assert job.options.mode == "sticker"


def test_too_few_credits_offers_a_buy_button_and_charges_nothing(bot, ann):
    user = user_of(ann)
    billing.adjust_credits(user.id, -3, "test: spend the bonus")
    bot.send(ann.photo(bot.api.add_file(png())))
    refusal = bot.api.calls_to("sendMessage")[-1]
    assert refusal.text == "Not enough credits: a photo costs 1 and you have 0. Buy more to go on."
    assert [b["callback_data"] for b in refusal.buttons] == ["buy"]
    assert not bot.api.calls_to("getFile") and Job.select().count() == 0
    assert billing.balance(user.id).total == 0


def test_credits_spent_meanwhile_are_refused_by_core_with_a_buy_button(bot, ann, monkeypatch):
    """The cheap check passed, but core's transaction is the one that counts."""
    user = user_of(ann)
    real_fetch = __import__("bot.photos", fromlist=["fetch"]).fetch

    async def fetch_then_spend(*args):
        data = await real_fetch(*args)
        billing.adjust_credits(user.id, -3, "spent elsewhere")
        return data

    monkeypatch.setattr("bot.photos.fetch", fetch_then_spend)
    bot.send(ann.photo(bot.api.add_file(png())))
    edit = bot.api.calls_to("editMessageText")[-1]
    assert edit.text.startswith("Not enough credits") and [b["callback_data"] for b in edit.buttons] == ["buy"]
    assert Job.select().count() == 0 and billing.balance(user.id).total == 0


def test_a_file_over_20_mb_is_refused_before_downloading(bot, ann):
    file_id = bot.api.add_file(png(), size=25 * MB)
    bot.send(ann.document(file_id, "huge.png", "image/png", file_size=25 * MB))
    assert bot.api.sent_texts()[-1] == ("This file is 25 MB; I can take files up to 20 MB. "
                                        "Send a smaller image, or send it as a photo.")
    assert not bot.api.calls_to("getFile") and not bot.api.calls_to("download")


def test_a_file_whose_size_only_getfile_knows_is_refused_before_downloading(bot, ann):
    file_id = bot.api.add_file(png(), size=21 * MB)
    bot.send(ann.photo(file_id, file_size=None))
    assert bot.api.calls_to("getFile") and not bot.api.calls_to("download")
    assert bot.api.sent_texts()[-1].startswith("This file is 21 MB")
    assert Job.select().count() == 0 and user_of(ann).balance.total == 3


def test_telegrams_own_file_too_big_answer_gets_the_same_message(bot, ann):
    bot.api.fail_next("getFile", 400, "Bad Request: file is too big")
    bot.send(ann.photo(bot.api.add_file(png()), file_size=None))
    assert bot.api.sent_texts()[-1].startswith("This file is") and Job.select().count() == 0


def test_a_local_bot_api_server_lifts_the_20_mb_limit(sqlite_settings):
    with running_bot(sqlite_settings, max_upload_bytes=50 * MB, telegram_api_base_url="http://127.0.0.1:8081/bot",
                     telegram_file_base_url="http://127.0.0.1:8081/file/bot") as harness:
        person = Person(7002)
        file_id = harness.api.add_file(png(), size=30 * MB)
        harness.send(person.document(file_id, "big.png", "image/png", file_size=30 * MB))
        assert harness.api.calls_to("download") and Job.select().count() == 1


def test_an_unreadable_image_is_refused_clearly_and_charges_nothing(bot, ann):
    file_id = bot.api.add_file(b"\x89PNG\r\n\x1a\nthis is no image", name="broken.png")
    bot.send(ann.document(file_id, "broken.png", "image/png"))
    assert bot.api.sent_texts()[-1] == "I can't read this image. Send JPEG, PNG, WebP, HEIC, AVIF, BMP, TIFF or GIF."
    assert Job.select().count() == 0 and user_of(ann).balance.total == 3


def test_an_image_with_too_many_pixels_is_refused_clearly(sqlite_settings):
    with running_bot(sqlite_settings, max_pixels=1_000_000) as harness:
        harness.send(Person(7004).photo(harness.api.add_file(png_of_size(1200, 900))))
        assert harness.api.sent_texts()[-1] == "This image is too big: at most 1 megapixels and 20 MB."
    assert Job.select().count() == 0


def png_of_size(width: int, height: int) -> bytes:
    return encode(subject_image((width, height)), "PNG")


@pytest.mark.parametrize(("update", "key"), [
    (lambda p: p.document("doc-1", "report.pdf", "application/pdf"), "not_an_image"),
    (lambda p: p.video(), "unsupported"),
    (lambda p: p.voice(), "unsupported"),
    (lambda p: p.sticker(), "unsupported"),
])
def test_non_images_get_a_clear_message(bot, ann, update, key):
    bot.send(update(ann))
    assert bot.api.sent_texts()[-1] == text("en", key, formats="JPEG, PNG, WebP, HEIC, AVIF, BMP, TIFF or GIF")
    assert not bot.api.calls_to("getFile")


def test_blocked_users_get_a_clear_message_and_no_job(bot, ann):
    accounts.block_user(user_of(ann).id)
    bot.send(ann.photo(bot.api.add_file(png())))
    assert bot.api.sent_texts()[-1] == text("en", "blocked")
    assert Job.select().count() == 0 and not bot.api.calls_to("getFile")


def test_at_most_max_jobs_in_flight_per_user(bot, ann):
    billing.top_up(user_of(ann).id, 10, payment_id="p-1")
    for _ in range(bot.settings.max_jobs_in_flight + 1):
        bot.send(ann.photo(bot.api.add_file(png())))
    assert bot.api.sent_texts()[-1] == "You already have 3 photos in progress. Send this one again when one is done."
    assert Job.select().count() == 3
    assert user_of(ann).balance.total == 13 - 3
    assert len(bot.api.calls_to("getFile")) == 3  # the fourth was refused before its download


def test_a_failed_download_asks_to_send_again(bot, ann):
    bot.api.fail_next("download", 502)
    bot.send(ann.photo(bot.api.add_file(png())))
    assert bot.api.sent_texts()[-1] == text("en", "download_failed")
    assert Job.select().count() == 0


def test_photo_messages_are_in_russian_for_russian_clients(bot):
    ivan = Person(7003, language="ru")
    bot.send(ivan.photo(bot.api.add_file(png())))
    assert bot.api.sent_texts()[-1] == "В очереди: №1. Я обновлю это сообщение."


def test_an_edited_photo_message_starts_no_second_job(bot, ann):
    update = ann.photo(bot.api.add_file(png()))
    bot.send(update)
    bot.send(ann.edited(update))
    assert Job.select().count() == 1 and user_of(ann).balance.total == 2


def test_photos_posted_in_a_group_are_ignored(bot, ann):
    calls = len(bot.api.calls)
    bot.send(ann.in_group(ann.photo(bot.api.add_file(png()))))
    assert Job.select().count() == 0 and len(bot.api.calls) == calls


def test_a_person_whose_telegram_id_needs_more_than_32_bits_can_start_and_send_a_photo(pg_settings):
    # Telegram has handed out user ids above 2**31 for years (they may use up to 52 bits).
    with running_bot(pg_settings) as bot:
        person = Person(7_123_456_789)
        bot.send(person.text("/start"))
        bot.send(person.photo(bot.api.add_file(png())))
        [job] = jobs.list_jobs(user_of(person).id).items
        assert (job.chat_id, job.status) == (person.id, "queued")
