"""Updates per second through the real bot Application against the in-process fake Bot API.

    python bench/bot.py                      # SQLite in a temporary directory
    python bench/bot.py --database-url postgresql://postgres@127.0.0.1:5432/bench_bot

Two scenarios, each fed through Application.update_queue and the bot's own update processor:
/balance (a database read and a reply) and photo-to-published-job (getFile, a local download,
the job created and charged in one transaction, the status message sent and edited, the job
published to the in-process queue). Many users send at once, as in real life.
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


def make_settings(workdir: Path, database_url: str | None):
    return load_settings({
        "APP_ENV": "test", "DATABASE_URL": database_url or f"sqlite:///{workdir}/bench.db",
        "STORAGE_DIR": str(workdir / "storage"), "TELEGRAM_BOT_TOKEN": TOKEN, "LOG_LEVEL": "WARNING",
        "MAX_JOBS_IN_FLIGHT": "1000000", "DB_POOL_SIZE": "20",
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
        await app.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--balance", type=int, default=3000, help="/balance updates to time")
    parser.add_argument("--photos", type=int, default=600, help="photo updates to time")
    parser.add_argument("--users", type=int, default=50, help="distinct people sending")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    database = "PostgreSQL" if args.database_url else "SQLite"
    failed = False
    for name, (rate, cpu_ms) in results.items():
        ok = rate >= TARGETS[name]
        failed |= not ok
        print(f"{name:8s} {rate:8.0f} updates/s  {cpu_ms:5.2f} ms CPU/update  (target >= {TARGETS[name]:.0f}/s, "
              f"{database}) {'OK' if ok else 'BELOW TARGET'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
