"""The real bot Application on a fake Bot API, its event loop in a thread, errors recorded.

Tests stay synchronous: `harness.send(update_json)` runs the update through
`Application.process_update` on the bot's loop and returns when every handler is done.
PTB swallows handler exceptions, so an extra error handler records them and
`assert_no_errors()` (called by the fixtures) fails the test on any.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from telegram import Update
from telegram.ext import ContextTypes

from bot.app import build_application
from core.queue import JobQueue, MemoryQueue
from core.settings import Settings
from core.storage import open_storage
from tests.support.fake_bot_api import TOKEN, FakeBotApi


class BotHarness:
    """One bot: build, initialize, post_init (menus, result listener) on enter; all stopped on exit."""

    def __init__(self, settings: Settings, *, queue: JobQueue | None = None, api: FakeBotApi | None = None,
                 start: bool = True):
        self.settings = settings
        self.start = start  # False: updates put in app.update_queue stay there (the webhook's tests look)
        self.api = api or FakeBotApi(settings.telegram_bot_token)
        self.queue = queue or MemoryQueue(settings)
        self.storage = open_storage(settings)
        self.errors: list[BaseException] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bot-loop", daemon=True)
        self.app = build_application(settings, queue=self.queue, storage=self.storage, request=self.api.request())
        self.app.add_error_handler(self._record)

    async def _record(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.errors.append(context.error)

    def __enter__(self) -> BotHarness:
        self._thread.start()
        self.run(self.app.initialize())
        if self.start:  # updates still come through send(); stop() awaits the bot's own tasks
            self.run(self.app.start())
        self.run(self.app.post_init(self.app))
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.start:
                self.run(self.app.stop())
            self.run(self.app.post_stop(self.app))
            self.run(self.app.shutdown())
            self.run(self.app.post_shutdown(self.app))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    def run(self, coroutine, timeout: float = 30.0):
        """Run a coroutine on the bot's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def send(self, update: dict) -> None:
        """Process one update given as Bot API JSON, through every matching handler."""
        self.run(self.app.process_update(Update.de_json(update, self.app.bot)))

    def assert_no_errors(self) -> None:
        if self.errors:
            raise AssertionError(f"handlers raised: {self.errors!r}") from self.errors[0]


@contextmanager
def running_bot(settings: Settings, **overrides) -> Iterator[BotHarness]:
    """A bot on the fake Bot API's token (settings changed by `overrides`); fails if any handler raised."""
    with BotHarness(dataclasses.replace(settings, telegram_bot_token=TOKEN, **overrides)) as harness:
        yield harness
        harness.assert_no_errors()


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, interval: float = 0.02) -> object:
    """Poll `predicate` until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
