"""The bot while PostgreSQL is away: a command or a photo gets a short answer in the person's own
language instead of silence or "something went wrong", and `python -m bot` started during an
outage waits for the database instead of exiting, then answers. A result to deliver meanwhile
waits for the database and goes out once.

python-telegram-bot's own Application on the fake Bot API; the real test PostgreSQL behind a relay
the test takes down (tests.support.proxy)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

import pytest

from bot.texts import CATALOGUE, LANGUAGES, text
from core import accounts, jobs
from core.db import connect_database, wait_for_database
from core.errors import DatabaseUnavailable
from core.storage import output_key
from tests.support.bot_harness import BotHarness
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN
from tests.support.fake_bot_api_server import FakeBotApiServer
from tests.support.images import encode, subject_image
from tests.support.processes import running
from tests.support.waiting import wait_for

UNAVAILABLE_EN = "Cutout is briefly unavailable; please send it again in a minute."


@pytest.fixture
def bot(pg_settings, pg_proxy):
    """The bot on the test PostgreSQL through pg_proxy."""
    settings = replace(pg_settings, database_url=pg_proxy.url, telegram_bot_token=TOKEN)
    database = connect_database(settings)
    with BotHarness(settings) as harness:
        yield harness
    pg_proxy.restore()
    database.close_all()


def assert_only_outages_were_raised(bot) -> None:
    """Handlers raised nothing but DatabaseUnavailable (which the bot's error handler answers)."""
    assert bot.errors and {type(error) for error in bot.errors} == {DatabaseUnavailable}, bot.errors


def test_a_command_during_an_outage_is_answered_with_a_short_message(bot, pg_proxy):
    ann = Person(9301)
    bot.send(ann.text("/start"))
    pg_proxy.refuse()
    bot.send(ann.text("/balance"))
    assert bot.api.sent_texts()[-1] == UNAVAILABLE_EN
    assert_only_outages_were_raised(bot)


def test_a_photo_during_an_outage_is_answered_with_the_same_message(bot, pg_proxy):
    ann = Person(9302)
    bot.send(ann.text("/start"))
    pg_proxy.refuse()
    bot.send(ann.photo(bot.api.add_file(encode(subject_image(), "JPEG"))))
    [reply] = bot.api.calls_to("sendMessage")[1:]
    assert reply.text == UNAVAILABLE_EN and reply.params["chat_id"] == ann.id
    assert_only_outages_were_raised(bot)


def test_a_button_pressed_during_an_outage_stops_spinning_and_says_why(bot, pg_proxy):
    ann = Person(9303)
    bot.send(ann.text("/start"))
    pg_proxy.refuse()
    bot.send(ann.press(f"rs:j{'0' * 32}:mode:sticker"))  # "make it a sticker" under a result
    [answer] = bot.api.calls_to("answerCallbackQuery")
    assert answer.params["text"] == UNAVAILABLE_EN
    assert_only_outages_were_raised(bot)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_message_is_in_the_persons_language_even_on_first_contact(bot, pg_proxy, language):
    assert "unavailable" in CATALOGUE[language]  # its own words, not English as a fallback
    newcomer = Person(9310, language=language)  # never wrote before: the language is Telegram's
    pg_proxy.refuse()
    bot.send(newcomer.text("/start"))
    assert bot.api.sent_texts() == [text(language, "unavailable")]
    assert_only_outages_were_raised(bot)


def test_after_the_outage_the_bot_answers_as_before_without_a_restart(bot, pg_proxy):
    ann = Person(9303)
    bot.send(ann.text("/start"))
    pg_proxy.refuse()
    bot.send(ann.text("/balance"))
    pg_proxy.restore()

    def balance_answered() -> bool:
        bot.send(ann.text("/balance"))
        return bot.api.sent_texts()[-1].startswith("Balance: 3 credits")

    wait_for(balance_answered, timeout=10, what="/balance to be answered again")


def test_a_result_to_deliver_during_an_outage_waits_for_the_database_and_goes_out_once(bot, pg_proxy, caplog):
    ann = Person(9304)
    bot.send(ann.text("/start"))
    bot.send(ann.photo(bot.api.add_file(encode(subject_image(), "JPEG"))))
    job = jobs.list_jobs(accounts.get_user_by_telegram_id(ann.id).id).items[0]
    jobs.start_job(job.id)  # the worker's part, played by the test while the database is up
    bot.storage.put(output_key(job.id, "png"), encode(subject_image().convert("RGBA"), "PNG"))
    assert jobs.complete_job(job.id, output_key=output_key(job.id, "png"), content_type="image/png")
    caplog.set_level(logging.INFO)
    pg_proxy.refuse()
    bot.queue.publish_result(job.id)
    wait_for(lambda: "unreachable (" in caplog.text, timeout=10, what="the listener to find the database down")
    time.sleep(2.0)  # a window to watch in: a listener that burns its tries would try again in it
    assert not bot.api.calls_to("sendDocument")
    pg_proxy.restore()
    bot.api.wait_for("sendDocument", timeout=15)
    assert wait_for_database(threading.Event())  # this thread's own connection was cut too
    wait_for(lambda: jobs.get_job(job.id).delivered_at, timeout=10, what="the delivery to be recorded")
    assert len(bot.api.calls_to("sendDocument")) == 1
    assert "delivery of job" not in caplog.text and "Traceback" not in caplog.text


@pytest.mark.slow
def test_python_m_bot_started_during_an_outage_waits_for_the_database_then_answers(pg_settings, pg_proxy, tmp_path):
    pg_proxy.refuse()
    with FakeBotApiServer() as api_server, running(
            "bot", tmp_path, database_url=pg_proxy.url, telegram_bot_token=TOKEN,
            telegram_api_base_url=api_server.base_url, telegram_file_base_url=api_server.base_file_url) as bot:
        log = bot.log_path.read_text
        wait_for(lambda: "unreachable" in log(), timeout=30, what="the bot to find the database down", logs=log)
        wait_for(lambda: pg_proxy.refused >= 2, timeout=10, what="the bot to try again", logs=log)
        assert bot.poll() is None, log()  # still there, waiting
        pg_proxy.restore()
        ann = Person(9320)
        api_server.api.push_update(ann.text("/start"))
        [greeting] = api_server.api.wait_for("sendMessage", timeout=30)
        assert "You got 3 free credits" in greeting.text
    assert bot.log.count("unreachable (") == 1 and bot.log.count("reachable again after") == 1, bot.log
