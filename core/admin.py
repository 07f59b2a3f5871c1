"""What admins do to accounts, credits, jobs and payments, each written into the audit log (who,
what, on whom, when, why) in the same transaction as the change itself. The panel's pages, the
admin API and the command line call these; the log itself is append-only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from core import accounts, billing, jobs, payments
from core.db import db, for_update
from core.enums import AdminActionKind, Bucket
from core.errors import LastAdmin
from core.models import AdminAction, User
from core.queue import JobQueue
from core.settings import Settings
from core.views import Balance, JobView, Page, UserView, paginate

logger = logging.getLogger(__name__)

MAX_REASON = 500


@dataclass(frozen=True)
class ActionView:
    id: int
    admin_id: int | None  # None: the command line
    admin_name: str
    action: str
    user_id: int | None
    user_name: str | None
    subject: str | None
    reason: str | None
    detail: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: AdminAction, names: Callable[[int | None], str | None]) -> ActionView:
        return cls(row.id, row.admin_id, names(row.admin_id) or "command line", row.action, row.user_id,
                   names(row.user_id), row.subject, row.reason, row.detail, row.created_at)


def _reason(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    return reason[:MAX_REASON] or None


@contextmanager
def recorded(admin_id: int | None, action: str, *, user_id: int | None = None, subject: str | None = None,
             reason: str | None = None, detail: str | None = None):
    """Do an admin's change and write its audit entry in one transaction: both or neither."""
    with db.atomic():
        yield
        _log(admin_id, action, user_id=user_id, subject=subject, reason=reason, detail=detail)


def _log(admin_id: int | None, action: str, *, user_id: int | None = None, subject: str | None = None,
         reason: str | None = None, detail: str | None = None) -> None:
    AdminAction.create(admin=admin_id, action=action, user=user_id, subject=subject, reason=_reason(reason),
                       detail=detail)
    logger.info("admin %s: %s user=%s subject=%s %s", admin_id or "cli", action, user_id, subject, detail or "")


def create_admin(email: str, password: str | None, *, promote_existing: bool = False) -> tuple[UserView, bool]:
    """accounts.create_admin from the command line, logged when it made or promoted someone."""
    found = accounts.admin_candidate(email, promote_existing=promote_existing)
    with db.atomic():
        made, created = accounts.create_admin(email, password, promote_existing=promote_existing)
        if found != "admin":
            _log(None, AdminActionKind.CREATE_ADMIN if created else AdminActionKind.PROMOTE, user_id=made.id,
                 detail="a new account" if created else "an existing account, with a new password")
    return made, created


def ensure_first_admin(email: str | None, password: str | None) -> accounts.FirstAdmin | None:
    """accounts.ensure_admin (make run, compose's migrate), logged when it made the first admin."""
    with db.atomic():
        made = accounts.ensure_admin(email, password)
        if made is not None:
            _log(None, AdminActionKind.CREATE_ADMIN, user_id=made.user.id, detail="the first admin")
    return made


def adjust_credits(admin_id: int, user_id: int, amount: int, reason: str, bucket: str = Bucket.BONUS) -> Balance:
    """Add or take credits with a reason (billing.adjust_credits), logged."""
    accounts.get_user(user_id)
    with recorded(admin_id, AdminActionKind.ADJUST_CREDITS, user_id=user_id, reason=reason,
                  detail=f"{amount:+d} {bucket}" if isinstance(amount, int) else None):
        return billing.adjust_credits(user_id, amount, reason, bucket)


def block(admin_id: int, user_id: int, reason: str | None = None) -> UserView:
    with recorded(admin_id, AdminActionKind.BLOCK, user_id=user_id, reason=reason):
        return accounts.block_user(user_id)


def unblock(admin_id: int, user_id: int, reason: str | None = None) -> UserView:
    with recorded(admin_id, AdminActionKind.UNBLOCK, user_id=user_id, reason=reason):
        return accounts.unblock_user(user_id)


def promote(admin_id: int | None, user_id: int, reason: str | None = None) -> UserView:
    with recorded(admin_id, AdminActionKind.PROMOTE, user_id=user_id, reason=reason):
        return accounts.promote_to_admin(user_id)


def demote(admin_id: int, user_id: int, reason: str | None = None) -> UserView:
    """Take the admin role away (at once: tokens carry the role only while the account has it);
    never from the last admin. A user who is not an admin is returned as is, and nothing is logged."""
    if not accounts.get_user(user_id).is_admin:
        return accounts.get_user(user_id)
    with recorded(admin_id, AdminActionKind.DEMOTE, user_id=user_id, reason=reason):
        admins = [row.id for row in for_update(User.select(User.id).where(User.is_admin == True))]  # noqa: E712
        if admins == [user_id]:
            raise LastAdmin("This is the last admin; make another admin first.")
        return accounts.demote_admin(user_id)


def retry_job(admin_id: int, job_id: str, queue: JobQueue) -> JobView:
    """Charge a failed job again and queue it (jobs.retry_job), logged."""
    job = jobs.get_job(job_id)
    with recorded(admin_id, AdminActionKind.RETRY_JOB, user_id=job.user_id, subject=job.id):
        return jobs.retry_job(job_id, queue)


def refund_payment(admin_id: int, settings: Settings, charge_id: str, reason: str | None = None) -> payments.Refund:
    """Give a Stars payment back (payments.refund), logged once Telegram has done it: the call to
    Telegram is not held inside a database transaction."""
    purchase = payments.purchase(charge_id)
    refund = payments.refund(settings, charge_id, by=f"admin {admin_id}")
    with recorded(admin_id, AdminActionKind.REFUND_PAYMENT, user_id=purchase.user_id, subject=charge_id,
                  reason=reason, detail=f"-{refund.taken} paid, {refund.shortfall} already spent"):
        pass
    return refund


def actions(page: int = 1, *, action: str | None = None, admin_id: int | None = None, user_id: int | None = None,
            per_page: int = 50) -> Page[ActionView]:
    """The audit log, newest first, optionally of one kind, by one admin or on one user."""
    query = AdminAction.select().order_by(AdminAction.id.desc())
    if action:
        query = query.where(AdminAction.action == action)
    if admin_id:
        query = query.where(AdminAction.admin == admin_id)
    if user_id:
        query = query.where(AdminAction.user == user_id)
    found = paginate(query, page, per_page, lambda row: row)
    ids = {i for row in found.items for i in (row.admin_id, row.user_id) if i}
    names = {u.id: UserView.of(u).display_name for u in User.select().where(User.id.in_(list(ids)))} if ids else {}
    return Page([ActionView.of(row, names.get) for row in found.items], found.page, found.per_page, found.total)
