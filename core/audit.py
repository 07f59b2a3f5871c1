"""The ledger's invariants, checked for every user and every job."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from peewee import fn

from core import payments
from core.enums import FINISHED, Bucket, EntryKind, EntryStatus, JobStatus
from core.models import Job, Render, Transaction, User


@dataclass(frozen=True)
class Problem:
    user_id: int
    message: str


def check_ledger() -> list[Problem]:
    """Every broken invariant: buckets equal their ledger sums and are never negative, each
    running balance_after matches, a job nets exactly its price unless it failed or was
    cancelled (then zero: charged once, refunded once), a finished job has no pending charge, and
    a refunded payment took back no more than its purchase added, and re-renders were charged
    exactly their prices."""
    problems: list[Problem] = []
    sums: dict[tuple[int, str], int] = defaultdict(int)
    for row in Transaction.select().order_by(Transaction.id):
        key = (row.user_id, row.bucket)
        sums[key] += row.amount
        if sums[key] != row.balance_after:
            problems.append(Problem(row.user_id, f"ledger row {row.id}: balance_after {row.balance_after} "
                                                 f"but the {row.bucket} entries sum to {sums[key]}"))
    for user in User.select(User.id, User.bonus_credits, User.paid_credits):
        for bucket, held in ((Bucket.BONUS, user.bonus_credits), (Bucket.PAID, user.paid_credits)):
            if held < 0:
                problems.append(Problem(user.id, f"{bucket} credits are negative ({held})"))
            if held != sums[(user.id, bucket)]:
                problems.append(Problem(user.id, f"{bucket} credits are {held} but the ledger sums to "
                                                 f"{sums[(user.id, bucket)]}"))
    problems.extend(_job_problems())
    problems.extend(Problem(user_id, message) for user_id, message in payments.refund_excesses())
    problems.extend(Problem(user_id, message) for user_id, message in _render_problems())
    return problems


def _job_problems() -> list[Problem]:
    problems = []
    net: dict[str, int] = defaultdict(int)
    pending: dict[str, int] = defaultdict(int)
    for row in Transaction.select().where(Transaction.job.is_null(False)):
        net[str(row.job_id)] += row.amount
        pending[str(row.job_id)] += row.status == EntryStatus.PENDING
    for job in Job.select(Job.id, Job.user, Job.status, Job.price):
        job_id = str(job.id)
        expected = 0 if job.status in (JobStatus.FAILED, JobStatus.CANCELLED) else -job.price
        if net[job_id] != expected:
            problems.append(Problem(job.user_id, f"job {job_id} ({job.status}) nets {net[job_id]} credits, "
                                                 f"expected {expected}"))
        if pending[job_id] and job.status in FINISHED:
            problems.append(Problem(job.user_id, f"job {job_id} is {job.status} but its charge is still pending"))
    return problems


def _render_problems() -> list[tuple[int, str]]:
    """(user id, problem) for every user whose render charges differ from their renders' prices."""
    charged = dict(Transaction.select(Transaction.user, fn.SUM(Transaction.amount))
                   .where(Transaction.kind == EntryKind.RENDER).group_by(Transaction.user).tuples())
    priced = dict(Render.select(Render.user, fn.SUM(Render.price)).where(Render.refunded_at.is_null())
                  .group_by(Render.user).tuples())
    problems = []
    for user_id in sorted(set(charged) | set(priced), key=int):
        if -(charged.get(user_id) or 0) != (priced.get(user_id) or 0):
            problems.append((int(user_id), f"renders cost {priced.get(user_id) or 0} credits, the ledger took "
                                           f"{-(charged.get(user_id) or 0)}"))
    return problems

