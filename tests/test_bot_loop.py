"""The bot never blocks its event loop: database, queue and storage calls all run in other threads."""

from __future__ import annotations

import dataclasses
import threading

import peewee
import pytest

from bot.payments import payload_for
from core.queue import MemoryQueue
from core.storage import DirectoryStore
from tests.support.bot_harness import BotHarness, wait_until
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN
from tests.support.images import encode, subject_image


@pytest.fixture
def blocking_calls(monkeypatch):
    """Names of the threads every database, storage and queue call ran on."""
    seen: list[tuple[str, str]] = []

    def spy(owner, name):
        original = getattr(owner, name)

        def recorded(*args, **kwargs):
            seen.append((f"{owner.__name__}.{name}", threading.current_thread().name))
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, recorded)

    spy(peewee.Database, "execute_sql")
    spy(peewee.Database, "connect")
    for name in ("put", "get", "delete"):
        spy(DirectoryStore, name)
    spy(MemoryQueue, "publish")
    return seen


def test_no_database_storage_or_queue_call_runs_on_the_event_loop(sqlite_settings, blocking_calls):
    settings = dataclasses.replace(sqlite_settings, telegram_bot_token=TOKEN)
    ann = Person(9300)
    with BotHarness(settings) as bot:
        for update in (ann.text("/start"), ann.text("/balance"), ann.text("/history"), ann.text("/settings"),
                       ann.press("opt:mode:sticker"), ann.text("/buy"), ann.press("pkg:10:50"),
                       ann.pre_checkout(payload_for(10, 50), 50), ann.paid(payload_for(10, 50), 50, "stx-loop"),
                       ann.photo(bot.api.add_file(encode(subject_image()))), ann.text("/cancel"),
                       ann.text("/apikey"), ann.text("/web")):
            bot.send(update)
        bot.assert_no_errors()
        loop_thread = bot._thread.name
        assert wait_until(lambda: len(blocking_calls) > 20)
    on_loop = [call for call, thread in blocking_calls if thread == loop_thread]
    assert on_loop == []
    assert {call for call, _ in blocking_calls} >= {"Database.execute_sql", "DirectoryStore.put", "MemoryQueue.publish"}
