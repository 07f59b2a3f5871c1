"""Updates per second through the real bot Application against the in-process fake Bot API.

    python bench/bot.py                      # SQLite in a temporary directory
    python bench/bot.py --database-url postgresql://postgres@127.0.0.1:5432/bench_bot

Two scenarios, each fed through Application.update_queue and the bot's own update processor:
/balance (a database read and a reply) and photo-to-published-job (getFile, a local download,
the job created and charged in one transaction, the status message sent and edited, the job
published to the in-process queue). Many users send at once, as in real life.

Then tap-to-file: one person taps the buttons under a done 1 MP photo's result, one tap at a
time (white, sticker, crop, transparent, ...): the time from the tap's update to the new file
sent, re-rendered from the kept input and mask (no model), target <= 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update

from bot.app import build_application
from core import accounts, billing, migrations
from core.db import connect_database
from core.queue import MemoryQueue
from core.settings import load_settings
from tests.support.bot_updates import Person
from tests.support.fake_bot_api import TOKEN, FakeBotApi
from tests.support.images import encode, subject_image

TARGETS = {"balance": 300.0, "photo": 50.0}
TAP_TARGET_SECONDS = 0.5
CHOICES = ("color:ffffff", "mode:sticker", "crop", "mode:png", "color:000000")


def make_settings(workdir: Path, database_url: str | None):
    return load_settings({
        "APP_ENV": "test", "DATABASE_URL": database_url or f"sqlite:///{workdir}/bench.db",
        "STORAGE_DIR": str(workdir / "storage"), "TELEGRAM_BOT_TOKEN": TOKEN, "LOG_LEVEL": "WARNING",
        "MAX_JOBS_IN_FLIGHT": "1000000", "DB_POOL_SIZE": "20",
        "MAX_RENDERS_PER_JOB": "100000", "MAX_RENDERS_PER_MINUTE": "100000",
    }, env_file=None)


def make_people(count: int) -> list[Person]:
    """Registered users with credits enough for any run."""
    people = [Person(900_000 + n, first_name=f"Bench{n}") for n in range(count)]
    for person in people:
        user, _ = accounts.register_telegram_user(person.id, first_name=person.user["first_name"], signup_bonus=0)
        billing.top_up(user.id, 1_000_000, payment_id=f"bench-{person.id}-{time.time_ns()}")
    return people


async def feed(app, updates: list[dict], handled) -> tuple[float, float]:
    """Queue every update at once; (wall seconds, process CPU seconds) until `handled()` grew by one per update."""
    target = handled() + len(updates)
    started, cpu = time.perf_counter(), time.process_time()
    for update in updates:
        await app.update_queue.put(Update.de_json(update, app.bot))
    while handled() < target:
        await asyncio.sleep(0.002)
    return time.perf_counter() - started, time.process_time() - cpu


async def run(args) -> dict[str, tuple[float, float]]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    settings = make_settings(workdir, args.database_url)
    connect_database(settings)
    migrations.migrate()
    people = make_people(args.users)
    api = FakeBotApi(TOKEN)
    queue = MemoryQueue(settings)
    app = build_application(settings, queue=queue, request=api.request())
    photo_file = api.add_file(encode(subject_image((640, 480)), "JPEG", quality=90))
    results = {}
    async with app:
        await app.start()  # the update fetcher and the bot's per-chat update processor; no listener
        scenarios = {
            "balance": (args.balance, lambda p: p.text("/balance"), lambda: len(api.calls_to("sendMessage"))),
            "photo": (args.photos, lambda p: p.photo(photo_file), lambda: queue.depth(settings.input_queue)),
        }
        for name, (count, make, handled) in scenarios.items():
            await feed(app, [make(people[n % len(people)]) for n in range(args.warmup)], handled)
            elapsed, cpu = await feed(app, [make(people[n % len(people)]) for n in range(count)], handled)
            results[name] = (count / elapsed, cpu / count * 1000)
        results["tap"] = await taps(app, api, settings, people[0], args.taps)
        await app.stop()
    return results


def done_photo(settings, person: Person) -> str:
    """A done job of a 1 MP photo with its mask kept (an ellipse: the mask's content does not
    change the work), as the worker leaves it; its id."""
    from PIL import Image, ImageDraw

    from core import jobs
    from core.render import encode_mask
    from core.storage import mask_key, open_storage, output_key

    storage = open_storage(settings)
    user = accounts.get_user_by_telegram_id(person.id)
    job = jobs.create_job(user.id, encode(subject_image((1155, 866)), "JPEG", quality=90), {}, settings=settings,
                          storage=storage, chat_id=person.id)
    mask = Image.new("L", (1155, 866))
    ImageDraw.Draw(mask).ellipse((200, 100, 950, 760), fill=255)
    jobs.start_job(job.id)
    storage.put(output_key(job.id, "png"), b"result")
    storage.put(mask_key(job.id), encode_mask(mask))
    jobs.complete_job(job.id, output_key=output_key(job.id, "png"), content_type="image/png",
                      mask_key=mask_key(job.id), model="bench")
    return job.id


async def taps(app, api, settings, person: Person, count: int) -> tuple[float, float, float]:
    """(median, 95th percentile, worst) seconds from a tap to its file sent."""
    import uuid

    job_id = await asyncio.to_thread(done_photo, settings, person)
    seconds = []
    for n in range(count + 3):  # three untimed taps first
        sent = len(api.calls_to("sendDocument")) + len(api.calls_to("sendSticker"))
        data = f"rs:j{uuid.UUID(job_id).hex}:{CHOICES[n % len(CHOICES)]}"
        started = time.perf_counter()
        await app.update_queue.put(Update.de_json(person.press(data), app.bot))
        deadline = started + 30
        while len(api.calls_to("sendDocument")) + len(api.calls_to("sendSticker")) == sent:
            if time.perf_counter() > deadline:
                raise SystemExit(f"tap {n} sent no file: {api.calls_to('answerCallbackQuery')[-1:]}")
            await asyncio.sleep(0.001)
        if n >= 3:
            seconds.append(time.perf_counter() - started)
    seconds.sort()
    return seconds[len(seconds) // 2], seconds[int(len(seconds) * 0.95) - 1], seconds[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--balance", type=int, default=3000, help="/balance updates to time")
    parser.add_argument("--photos", type=int, default=600, help="photo updates to time")
    parser.add_argument("--users", type=int, default=50, help="distinct people sending")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--taps", type=int, default=40, help="taps under a result to time, one at a time")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    database = "PostgreSQL" if args.database_url else "SQLite"
    failed = False
    median, p95, worst = results.pop("tap")
    tap_ok = p95 <= TAP_TARGET_SECONDS
    for name, (rate, cpu_ms) in results.items():
        ok = rate >= TARGETS[name]
        failed |= not ok
        print(f"{name:8s} {rate:8.0f} updates/s  {cpu_ms:5.2f} ms CPU/update  (target >= {TARGETS[name]:.0f}/s, "
              f"{database}) {'OK' if ok else 'BELOW TARGET'}")
    print(f"tap      1 MP, tap to file: median {median:.3f} s, 95th percentile {p95:.3f} s, worst {worst:.3f} s "
          f"(target <= {TAP_TARGET_SECONDS} s) {'OK' if tap_ok else 'ABOVE TARGET'}")
    return 1 if failed or not tap_ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
