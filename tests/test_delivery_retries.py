"""Every retry of a delivery ends: a chat whose sendDocument keeps failing is tried a bounded number
of times, the event ends in the dead-letter queue, the job says why (and admins see it), and the
person gets the result when they next write to the bot."""

from __future__ import annotations

import dataclasses

import pytest

from core import accounts, jobs
from core.storage import open_storage, output_key
from tests.support.bot_harness import BotHarness, running_bot, wait_until
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN, FakeBotApi
from tests.support.images import encode, subject_image
from tests.support.panel import Panel

ATTEMPTS = 3


def finished_chat_job(settings, storage, queue, person: Person):
    """A done job of the person's chat with a real result, its result event published."""
    user, _ = accounts.register_telegram_user(person.id, signup_bonus=1)
    job = jobs.create_job(user.id, encode(subject_image()), {}, settings=settings, storage=storage,
                          source="telegram", chat_id=person.id)
    jobs.start_job(job.id)
    key = output_key(job.id, "png")
    storage.put(key, encode(subject_image().convert("RGBA"), "PNG"))
    jobs.complete_job(job.id, output_key=key, content_type="image/png")
    queue.publish_result(job.id)
    return job


def test_a_chat_that_keeps_failing_ends_in_the_dead_letter_queue_and_gets_the_result_later(sqlite_settings):
    person = Person(8201)
    with running_bot(sqlite_settings, retry_backoff_seconds=0.05, delivery_max_attempts=ATTEMPTS) as bot:
        bot.api.fail_next("sendDocument", 500, "Internal Server Error", times=ATTEMPTS)
        job = finished_chat_job(bot.settings, bot.storage, bot.queue, person)
        wait_until(lambda: bot.queue.depth(bot.queue.dead_letter_queue) == 1)
        assert len(bot.api.calls_to("sendDocument")) == ATTEMPTS
        recorded = jobs.get_job(job.id)
        assert recorded.delivery_error.startswith(f"Not delivered after {ATTEMPTS} attempts")
        assert bot.queue.depth(bot.settings.result_queue) == 0 and bot.queue.waiting() == 0  # nothing left to try

        admin = Panel.build(bot.settings)
        page = admin.client.get("/admin/jobs", headers=admin.auth(admin.admin())).get_data(as_text=True)
        assert f"Chat: Not delivered after {ATTEMPTS} attempts" in page

        bot.send(person.text("/balance"))  # the person writes again: the chat works
        wait_until(lambda: jobs.get_job(job.id).delivered_at)
        assert len(bot.api.calls_to("sendDocument")) == ATTEMPTS + 1
        assert jobs.get_job(job.id).delivery_error is None
        bot.assert_no_errors()


def test_a_chat_that_blocked_the_bot_gets_the_result_when_it_writes_again(sqlite_settings):
    person = Person(8202)
    with running_bot(sqlite_settings) as bot:
        bot.api.fail_next("sendDocument", 403, "Forbidden: bot was blocked by the user")
        job = finished_chat_job(bot.settings, bot.storage, bot.queue, person)
        wait_until(lambda: jobs.get_job(job.id).delivery_error)
        bot.send(person.text("/start"))
        wait_until(lambda: jobs.get_job(job.id).delivered_at and not jobs.get_job(job.id).delivery_error)
        assert len(bot.api.calls_to("sendDocument")) == 2


@pytest.mark.slow
def test_on_rabbitmq_the_tries_wait_in_delay_queues_and_end_in_the_dead_letter_queue(sqlite_settings, amqp_names):
    settings = dataclasses.replace(sqlite_settings, telegram_bot_token=TOKEN, retry_backoff_seconds=0.05,
                                   delivery_max_attempts=ATTEMPTS, **amqp_names)
    from core.queue import open_queue

    queue, storage = open_queue(settings), open_storage(settings)
    api = FakeBotApi(TOKEN)
    api.fail_next("sendDocument", 500, "Internal Server Error", times=ATTEMPTS)
    job = finished_chat_job(settings, storage, queue, Person(8203))
    with BotHarness(settings, queue=queue, api=api) as bot:
        wait_until(lambda: queue.depth(settings.dead_letter_queue) == 1, timeout=30)
        bot.assert_no_errors()
    assert len(api.calls_to("sendDocument")) == ATTEMPTS
    assert jobs.get_job(job.id).delivery_error.startswith(f"Not delivered after {ATTEMPTS} attempts")
    assert queue.depth(settings.result_queue) == 0
