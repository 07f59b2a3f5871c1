"""Results out: the listener in the bot process sends each finished job to its chat, once."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from prometheus_client import REGISTRY

from bot.texts import text
from core import accounts, billing, jobs
from core.failures import PROCESSING_FAILED
from core.options import JobOptions
from core.queue import open_queue
from core.storage import open_storage, output_key
from tests.conftest import make_settings
from tests.support.bot_harness import BotHarness, running_bot, wait_until
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN, FakeBotApi
from tests.support.images import decode, encode, subject_image
from worker.engine import load_engine
from worker.service import start_workers


@pytest.fixture(scope="module")
def engine(tiny_model_path, tmp_path_factory):
    """The worker engine on the tiny test model."""
    return load_engine(make_settings(tmp_path_factory.mktemp("bot-worker"), rembg_model_path=tiny_model_path))


@pytest.fixture
def bot(sqlite_settings):
    with running_bot(sqlite_settings, retry_backoff_seconds=0.05) as harness:
        yield harness


@pytest.fixture
def workers(bot, engine):
    """The real worker (pipeline and tiny model) consuming the bot's in-process queue."""
    stop = threading.Event()
    threads = start_workers(bot.settings, bot.queue, engine, stop, storage=bot.storage, sweep=False)
    yield
    stop.set()
    for thread in threads:
        thread.join(10)


@pytest.fixture
def ann(bot):
    person = Person(8001)
    bot.send(person.text("/start"))
    return person


def send_photo(bot, person, name: str | None = None) -> jobs.JobView:
    """The person sends a photo (or an image file called `name`); return its job."""
    if name:
        bot.send(person.document(bot.api.add_file(encode(subject_image()), name=name), name, "image/png"))
    else:
        bot.send(person.photo(bot.api.add_file(encode(subject_image(), "JPEG"))))
    return jobs.list_jobs(accounts.get_user_by_telegram_id(person.id).id).items[0]


def status_edits(bot, job) -> list[str]:
    return [c.text for c in bot.api.calls_to("editMessageText") if c.params["message_id"] == job.status_message_id]


def delivered(job_id) -> jobs.JobView | None:
    job = jobs.get_job(job_id)
    return job if job.delivered_at else None


def test_png_result_arrives_as_a_transparent_document_named_after_the_photo(bot, ann, workers):
    job = send_photo(bot, ann)
    [document] = bot.api.wait_for("sendDocument")
    filename, data = document.files["document"]
    assert filename == "photo-cutout.png"
    image = decode(data)
    assert image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255
    assert document.params["chat_id"] == ann.id
    assert document.params["reply_parameters"]["message_id"] == job.message_id
    assert wait_until(lambda: delivered(job.id)).delivery_error is None
    edits = wait_until(lambda: status_edits(bot, job) if len(status_edits(bot, job)) == 3 else None)
    assert edits == ["In line: #1. I'll update this message.", text("en", "status_processing"),
                     text("en", "status_done")]
    assert billing.balance(job.user_id).total == 2


def test_sticker_mode_arrives_through_send_sticker(bot, ann, workers):
    bot.send(ann.press("opt:mode:sticker"))
    job = send_photo(bot, ann)
    [sticker] = bot.api.wait_for("sendSticker")
    image = decode(sticker.files["sticker"][1])
    assert image.format == "WEBP" and max(image.size) == 512
    wait_until(lambda: delivered(job.id))
    assert not bot.api.calls_to("sendDocument")


def test_colour_mode_arrives_as_a_document_with_the_colour_behind(bot, ann, workers):
    bot.send(ann.press("opt:color:1e88e5"))
    send_photo(bot, ann, name="cat.png")
    [document] = bot.api.wait_for("sendDocument")
    filename, data = document.files["document"]
    image = decode(data).convert("RGB")
    assert filename == "cat-cutout.png"
    assert image.getpixel((0, 0)) == (0x1E, 0x88, 0xE5)  # the corner was background


def test_mask_mode_arrives_as_a_mask_document(bot, ann, workers):
    bot.send(ann.press("opt:mode:mask"))
    send_photo(bot, ann, name="cat.png")
    [document] = bot.api.wait_for("sendDocument")
    filename, data = document.files["document"]
    assert filename == "cat-mask.png"
    assert decode(data).mode in ("L", "1", "LA")


# --- the listener's rules, with the worker's part played by the test ---

def finish(bot, job_id, *, mode: str = "png") -> None:
    """Do what a worker does: start (event), store a real PNG result, complete (event)."""
    jobs.start_job(job_id)
    bot.queue.publish_result(job_id)
    key = output_key(job_id, "png")
    bot.storage.put(key, encode(subject_image().convert("RGBA"), "PNG"))
    assert jobs.complete_job(job_id, output_key=key, content_type="image/png")
    bot.queue.publish_result(job_id)


def test_a_429_waits_retry_after_and_then_delivers(bot, ann):
    job = send_photo(bot, ann)
    bot.api.fail_next("sendDocument", 429, "Too Many Requests: retry after 1", retry_after=1)
    finish(bot, job.id)
    first, second = bot.api.wait_for("sendDocument", 2)
    assert wait_until(lambda: delivered(job.id)).delivery_error is None
    assert len(bot.api.calls_to("sendDocument")) == 2


def test_a_403_is_recorded_and_acked_without_retrying(bot, ann):
    job = send_photo(bot, ann)
    bot.api.fail_next("sendDocument", 403, "Forbidden: bot was blocked by the user")
    finish(bot, job.id)
    recorded = wait_until(lambda: delivered(job.id))
    assert recorded.delivery_error.startswith("Forbidden")
    bot.run(bot.app.post_stop(bot.app))  # the listener has stopped: nothing more can happen
    assert len(bot.api.calls_to("sendDocument")) == 1
    assert bot.queue.depth(bot.settings.result_queue) == 0
    assert jobs.get_job(job.id).status == "done"  # the photo was made; only the chat refused it


def test_other_failures_are_retried_with_backoff_until_delivered(bot, ann):
    job = send_photo(bot, ann)
    bot.api.fail_next("sendDocument", 500, "Internal Server Error", times=2)
    finish(bot, job.id)
    calls = bot.api.wait_for("sendDocument", 3)
    assert wait_until(lambda: delivered(job.id)).delivery_error is None
    assert len(calls) == 3


def test_a_redelivered_done_event_sends_nothing_twice(bot, ann):
    job = send_photo(bot, ann)
    finish(bot, job.id)
    bot.api.wait_for("sendDocument")
    wait_until(lambda: delivered(job.id))
    done_edits = len([c for c in bot.api.calls_to("editMessageText") if c.text == text("en", "status_done")])
    bot.queue.publish_result(job.id)
    wait_until(lambda: len([c for c in bot.api.calls_to("editMessageText")
                            if c.text == text("en", "status_done")]) > done_edits)
    assert len(bot.api.calls_to("sendDocument")) == 1


def test_a_failed_job_says_so_with_the_reason_and_the_refund(bot, ann):
    job = send_photo(bot, ann)
    jobs.start_job(job.id)
    jobs.fail_job(job.id, "The image could not be read")
    bot.queue.publish_result(job.id)
    wait_until(lambda: delivered(job.id))
    assert status_edits(bot, job)[-1] == "Failed: The image could not be read. Your credits were refunded."
    assert billing.balance(job.user_id).total == 3


def test_a_failure_notice_whose_status_message_is_gone_is_sent_anew(bot, ann):
    job = send_photo(bot, ann)
    jobs.fail_job(job.id, "boom")
    bot.api.fail_next("editMessageText", 400, "Bad Request: message to edit not found")
    bot.queue.publish_result(job.id)
    wait_until(lambda: delivered(job.id))
    assert bot.api.sent_texts()[-1] == "Failed: boom. Your credits were refunded."


def test_a_failure_notice_is_in_the_users_language(bot):
    ivan = Person(8002, language="ru")
    bot.send(ivan.text("/start"))
    job = send_photo(bot, ivan)
    jobs.fail_job(job.id, "boom")
    bot.queue.publish_result(job.id)
    wait_until(lambda: delivered(job.id))
    assert bot.api.sent_texts()[-1] == "Не получилось: boom. Кредиты возвращены."


def test_a_failure_people_cannot_act_on_is_told_in_the_users_own_words(bot):
    ivan = Person(8003, language="ru")
    bot.send(ivan.text("/start"))
    job = send_photo(bot, ivan)
    jobs.fail_job(job.id, PROCESSING_FAILED)
    bot.queue.publish_result(job.id)
    wait_until(lambda: delivered(job.id))
    assert bot.api.sent_texts()[-1] == "Не получилось: фото не удалось обработать. Кредиты возвращены."


def test_an_event_for_an_unknown_job_is_dead_lettered(bot):
    bot.queue.publish_result("00000000-0000-0000-0000-000000000000")
    wait_until(lambda: bot.queue.depth(bot.queue.dead_letter_queue))
    assert not bot.api.calls_to("sendDocument")


def test_an_api_job_is_not_sent_to_any_chat(bot, ann):
    user = accounts.get_user_by_telegram_id(ann.id)
    api_job = jobs.create_job(user.id, encode(subject_image()), None, settings=bot.settings, storage=bot.storage)
    finish(bot, api_job.id)
    chat_job = send_photo(bot, ann)
    finish(bot, chat_job.id)  # one listener thread takes events in order: this one comes after
    [document] = bot.api.wait_for("sendDocument")
    wait_until(lambda: delivered(chat_job.id))
    assert len(bot.api.calls_to("sendDocument")) == 1
    assert jobs.get_job(api_job.id).delivered_at is None


def test_result_file_names_follow_the_original():
    job = jobs.JobView(**{f.name: None for f in dataclasses.fields(jobs.JobView)})
    named = dataclasses.replace(job, input_name="../../My Cat.final.JPG", output_content_type="image/png",
                                options=JobOptions())
    assert named.result_filename == "My_Cat.final-cutout.png"
    assert dataclasses.replace(named, options=JobOptions(mode="mask")).result_filename == "My_Cat.final-mask.png"
    jpeg = dataclasses.replace(named, options=JobOptions(mode="color", format="jpeg"), output_content_type="image/jpeg")
    assert jpeg.result_filename == "My_Cat.final-cutout.jpg"
    assert dataclasses.replace(named, input_name=None).result_filename == "photo-cutout.png"


def test_a_result_that_keeps_failing_goes_behind_the_others_on_rabbitmq(sqlite_settings, amqp_names):
    settings = dataclasses.replace(sqlite_settings, telegram_bot_token=TOKEN, retry_backoff_seconds=0.05, **amqp_names)
    queue, storage = open_queue(settings), open_storage(settings)
    finished = []
    for chat_id in (8101, 8102):  # both results wait in the queue before the bot starts
        user, _ = accounts.register_telegram_user(chat_id, signup_bonus=1)
        job = jobs.create_job(user.id, encode(subject_image()), {}, settings=settings, storage=storage,
                              source="telegram", chat_id=chat_id)
        jobs.start_job(job.id)
        key = output_key(job.id, "png")
        storage.put(key, encode(subject_image().convert("RGBA"), "PNG"))
        jobs.complete_job(job.id, output_key=key, content_type="image/png")
        queue.publish_result(job.id)
        finished.append(job)
    api = FakeBotApi(TOKEN)
    api.fail_next("sendDocument", 500, "Internal Server Error")  # the first result's first try
    with BotHarness(settings, queue=queue, api=api) as bot:
        wait_until(lambda: all(delivered(job.id) for job in finished))
        bot.assert_no_errors()
    assert [call.params["chat_id"] for call in api.calls_to("sendDocument")] == [8101, 8102, 8101]
    assert queue.depth(settings.result_queue) == 0


def test_metrics_count_the_update_each_bot_api_call_the_429_and_the_delivery_time(bot, ann):
    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    counted = ("cutout_bot_updates_total", {"kind": "photo"}), \
        ("cutout_bot_api_calls_total", {"method": "sendDocument", "outcome": "retry_after"}), \
        ("cutout_bot_api_calls_total", {"method": "sendDocument", "outcome": "ok"}), \
        ("cutout_bot_retry_after_seconds_sum", {}), ("cutout_bot_delivery_seconds_count", {})
    before = [value(name, **labels) for name, labels in counted]
    job = send_photo(bot, ann)
    bot.api.fail_next("sendDocument", 429, "Too Many Requests: retry after 1", retry_after=1)
    finish(bot, job.id)
    bot.api.wait_for("sendDocument", 2)
    wait_until(lambda: delivered(job.id))
    after = [value(name, **labels) for name, labels in counted]
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1, 1, 1]
