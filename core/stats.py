"""Numbers for the dashboard and /metrics: plain queries over jobs, users and the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from peewee import SQL, Case, fn

from core.db import is_postgres
from core.enums import EntryKind, JobStatus
from core.models import Job, Transaction, User, utcnow

# Upper bounds (seconds) of the processing-time histogram.
HISTOGRAM_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class Histogram:
    buckets: tuple[tuple[float, int], ...]  # (upper bound, cumulative count)
    count: int
    total: float


@dataclass(frozen=True)
class Dashboard:
    users: int
    jobs_today: dict[str, int]
    jobs_week: dict[str, int]
    jobs_all: dict[str, int]
    credits_sold: int
    credits_sold_week: int
    failure_rate: float | None  # failed / (done + failed), None without finished jobs
    mean_processing_seconds: float | None
    jobs_per_day: list[tuple[date, int]]


def _seconds():
    """SQL for a job's processing time in seconds, in the bound database's dialect."""
    if is_postgres():
        return SQL("EXTRACT(EPOCH FROM (finished_at - started_at))")
    return SQL("((julianday(finished_at) - julianday(started_at)) * 86400.0)")


def start_of_day(now: datetime | None = None) -> datetime:
    """Midnight (UTC) of the given or current day."""
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def user_count() -> int:
    """How many users there are."""
    return User.select().count()


def jobs_by_status(since: datetime | None = None) -> dict[str, int]:
    """Jobs of each status created since a time (all time without one)."""
    query = Job.select(Job.status, fn.COUNT(Job.id)).group_by(Job.status)
    if since is not None:
        query = query.where(Job.created_at >= since)
    return {status: n for status, n in query.tuples()}


def credits_sold(since: datetime | None = None) -> int:
    """Paid credits bought (top-ups), optionally since a time."""
    query = Transaction.select(fn.COALESCE(fn.SUM(Transaction.amount), 0)).where(Transaction.kind == EntryKind.TOPUP)
    if since is not None:
        query = query.where(Transaction.created_at >= since)
    return int(query.scalar() or 0)


def failure_rate(since: datetime | None = None) -> float | None:
    """Share of finished jobs that failed (done or failed; cancelled ones do not count)."""
    counts = jobs_by_status(since)
    finished = counts.get(JobStatus.DONE, 0) + counts.get(JobStatus.FAILED, 0)
    return counts.get(JobStatus.FAILED, 0) / finished if finished else None


def _timed_jobs(since: datetime | None):
    query = Job.select().where(Job.status == JobStatus.DONE, Job.started_at.is_null(False),
                               Job.finished_at.is_null(False))
    return query.where(Job.created_at >= since) if since is not None else query


def mean_processing_seconds(since: datetime | None = None) -> float | None:
    """Mean time from start to finish of done jobs."""
    value = _timed_jobs(since).select(fn.AVG(_seconds())).scalar()
    return float(value) if value is not None else None


def processing_histogram(buckets: tuple[float, ...] = HISTOGRAM_BUCKETS) -> Histogram:
    """Cumulative counts of done jobs by processing time, in one query."""
    seconds = _seconds()
    columns = [fn.SUM(Case(None, [(seconds <= bound, 1)], 0)) for bound in buckets]
    row = _timed_jobs(None).select(fn.COUNT(Job.id), fn.COALESCE(fn.SUM(seconds), 0), *columns).tuples().first()
    count, total, *cumulative = row or (0, 0, *[0] * len(buckets))
    pairs = tuple((bound, int(n or 0)) for bound, n in zip(buckets, cumulative, strict=True))
    return Histogram(buckets=pairs, count=int(count or 0), total=float(total or 0))


def jobs_per_day(days: int = 14, now: datetime | None = None) -> list[tuple[date, int]]:
    """Jobs created on each of the last `days` days (oldest first, zero-filled)."""
    first = start_of_day(now) - timedelta(days=days - 1)
    day = fn.DATE(Job.created_at)
    rows = Job.select(day, fn.COUNT(Job.id)).where(Job.created_at >= first).group_by(day).tuples()
    counts = {str(d)[:10]: n for d, n in rows}
    dates = [(first + timedelta(days=i)).date() for i in range(days)]
    return [(d, counts.get(d.isoformat(), 0)) for d in dates]


def dashboard(now: datetime | None = None, days: int = 14) -> Dashboard:
    """Everything the admin dashboard shows, except the queue's depth."""
    today = start_of_day(now)
    week = today - timedelta(days=6)
    return Dashboard(
        users=user_count(),
        jobs_today=jobs_by_status(today),
        jobs_week=jobs_by_status(week),
        jobs_all=jobs_by_status(),
        credits_sold=credits_sold(),
        credits_sold_week=credits_sold(week),
        failure_rate=failure_rate(),
        mean_processing_seconds=mean_processing_seconds(),
        jobs_per_day=jobs_per_day(days, now),
    )
