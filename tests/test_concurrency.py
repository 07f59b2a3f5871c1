"""Real threads against PostgreSQL: the row lock and the guarded UPDATE keep money exact."""

import io
import threading
from dataclasses import replace

import pytest
from PIL import Image

from core import accounts, billing, jobs
from core.audit import check_ledger
from core.db import db
from core.errors import InsufficientCredits, TooManyJobs
from core.models import Job, Transaction
from core.queue import MemoryQueue
from core.storage import DirectoryStore

pytestmark = pytest.mark.postgres


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, "PNG")
    return buffer.getvalue()


def run_threads(count: int, target) -> list:
    """Start `count` threads at once and collect what each returned or raised."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        barrier.wait()
        try:
            results[index] = target()
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_fifty_threads_reserving_against_ten_credits_make_exactly_ten_jobs(pg_settings):
    user, _ = accounts.register_telegram_user(1001, signup_bonus=4)
    billing.top_up(user.id, 6, payment_id="p1")
    storage, queue = DirectoryStore(pg_settings.storage_dir), MemoryQueue(pg_settings)

    unlimited = replace(pg_settings, max_jobs_in_flight=50)  # the credits, not the in-flight limit, decide
    results = run_threads(50, lambda: jobs.submit_job(user.id, png(), {}, settings=unlimited,
                                                      storage=storage, queue=queue))

    made = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(made) == 10
    assert all(isinstance(r, InsufficientCredits) for r in refused), refused
    assert Job.select().count() == 10
    assert billing.balance(user.id).total == 0
    assert len(list(storage.root.glob("*/input"))) == 10
    assert check_ledger() == []


def test_concurrent_submits_respect_the_in_flight_limit(pg_settings):
    user, _ = accounts.register_telegram_user(1001, signup_bonus=20)
    storage, queue = DirectoryStore(pg_settings.storage_dir), MemoryQueue(pg_settings)

    limited = replace(pg_settings, max_jobs_in_flight=3)
    results = run_threads(12, lambda: jobs.submit_job(user.id, png(), {}, settings=limited, storage=storage,
                                                      queue=queue))

    assert sum(not isinstance(r, Exception) for r in results) == 3
    assert all(isinstance(r, TooManyJobs) for r in results if isinstance(r, Exception))
    assert billing.balance(user.id).total == 17
    assert check_ledger() == []


def test_the_same_payment_delivered_concurrently_credits_once(pg_settings):
    user, _ = accounts.register_telegram_user(1001)

    results = run_threads(10, lambda: billing.top_up(user.id, 5, payment_id="tg-charge-1"))

    assert sum(r.credited for r in results) == 1
    assert billing.balance(user.id).paid == 5
    assert Transaction.select().where(Transaction.kind == "topup").count() == 1


def test_concurrent_failures_of_one_job_refund_once(pg_settings):
    user, _ = accounts.register_telegram_user(1001, signup_bonus=1)
    storage, queue = DirectoryStore(pg_settings.storage_dir), MemoryQueue(pg_settings)
    job = jobs.submit_job(user.id, png(), {}, settings=pg_settings, storage=storage, queue=queue)

    results = run_threads(10, lambda: jobs.fail_job(job.id, "boom"))

    assert sum(results) == 1
    assert billing.balance(user.id).total == 1
    assert check_ledger() == []


def test_concurrent_signups_of_one_telegram_user_give_one_bonus(pg_settings):
    results = run_threads(10, lambda: accounts.register_telegram_user(77, signup_bonus=3))

    assert sum(created for _, created in results) == 1
    assert {user.id for user, _ in results} == {results[0][0].id}
    assert billing.balance(results[0][0].id).bonus == 3
