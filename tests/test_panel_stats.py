"""core.stats on SQLite and PostgreSQL: counts by status and day, money, failure rate, timings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import billing, stats
from core.models import Job, User, utcnow


def _job(user_id: int, status: str, created, seconds: float | None = None) -> None:
    started = created + timedelta(seconds=1) if seconds is not None else None
    finished = started + timedelta(seconds=seconds) if seconds is not None else None
    Job.create(user=user_id, source="api", price=1, status=status, created_at=created, started_at=started,
               finished_at=finished)


@pytest.fixture
def now():
    return utcnow().replace(hour=12)


@pytest.fixture
def history(settings, now):
    user = User.create(username="stats")
    _job(user.id, "done", now, 2.0)
    _job(user.id, "done", now - timedelta(days=1), 4.0)
    _job(user.id, "failed", now - timedelta(days=3), 1.0)
    _job(user.id, "queued", now)
    _job(user.id, "done", now - timedelta(days=30), 60.0)
    billing.top_up(user.id, 10, payment_id="s-1")
    return user


def test_jobs_by_status_since(history, now):
    assert stats.jobs_by_status() == {"done": 3, "failed": 1, "queued": 1}
    assert stats.jobs_by_status(stats.start_of_day(now)) == {"done": 1, "queued": 1}


def test_jobs_per_day_is_zero_filled_and_oldest_first(history, now):
    days = stats.jobs_per_day(7, now)
    assert len(days) == 7 and days[-1] == (now.date(), 2)
    assert [n for _, n in days] == [0, 0, 0, 1, 0, 1, 2]


def test_failure_rate_counts_finished_jobs(history):
    assert stats.failure_rate() == pytest.approx(1 / 4)


def test_failure_rate_without_finished_jobs_is_none(settings):
    assert stats.failure_rate() is None


def test_mean_processing_seconds(history, now):
    assert stats.mean_processing_seconds() == pytest.approx((2 + 4 + 60) / 3, abs=0.01)
    assert stats.mean_processing_seconds(now - timedelta(days=7)) == pytest.approx(3.0, abs=0.01)


def test_processing_histogram_is_cumulative(history):
    histogram = stats.processing_histogram((1.0, 2.5, 5.0, 120.0))
    assert histogram.buckets == ((1.0, 0), (2.5, 1), (5.0, 2), (120.0, 3))
    assert histogram.count == 3 and histogram.total == pytest.approx(66.0, abs=0.01)


def test_credits_sold_counts_top_ups_only(history, now):
    billing.adjust_credits(history.id, 5, "gift")
    assert stats.credits_sold() == 10
    assert stats.credits_sold(now + timedelta(days=1)) == 0


def test_dashboard_puts_it_together(history, now):
    board = stats.dashboard(now, days=14)
    assert board.users == 1
    assert board.jobs_today == {"done": 1, "queued": 1}
    assert board.jobs_week == {"done": 2, "failed": 1, "queued": 1}
    assert len(board.jobs_per_day) == 14
