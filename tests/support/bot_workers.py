"""A bot and the real worker on one queue, for tests of what happens after a result: its buttons,
sticker packs, albums."""

from __future__ import annotations

import threading

from core import accounts, jobs
from tests.support.bot_harness import running_bot, wait_until
from tests.support.bot_updates import Person
from tests.support.images import encode, subject_image
from worker.service import start_workers


def bot_with_workers(settings, engine, **overrides):
    """A bot and the real worker on its queue (none when `engine` is None); a context manager."""
    class Both:
        def __enter__(self):
            self.running = running_bot(settings, **overrides)
            self.bot = self.running.__enter__()
            self.stop = threading.Event()
            self.threads = [] if engine is None else start_workers(
                self.bot.settings, self.bot.queue, engine, self.stop, storage=self.bot.storage, sweep=False)
            return self.bot

        def __exit__(self, *exc):
            self.stop.set()
            for thread in self.threads:
                thread.join(10)
            return self.running.__exit__(*exc)

    return Both()


def result_of(bot, person: Person, count: int = 1):
    """The person sends a photo; the result's sendDocument call once it is delivered, and the job."""
    bot.send(person.text("/start"))
    bot.send(person.photo(bot.api.add_file(encode(subject_image((90, 60)), "JPEG"))))
    job = jobs.list_jobs(accounts.get_user_by_telegram_id(person.id).id).items[0]
    document = bot.api.wait_for("sendDocument", count, timeout=30)[-1]
    wait_until(lambda: jobs.get_job(job.id).delivered_at)
    return document, jobs.get_job(job.id)


def data_of(call, label_start: str) -> str:
    """The callback data of the call's button whose label starts so."""
    return next(button["callback_data"] for button in call.buttons if button["text"].startswith(label_start))
