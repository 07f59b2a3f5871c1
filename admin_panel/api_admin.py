"""The REST API for admins: /api/v1/admin users, credits, blocking, roles, jobs, retries, payments,
the audit log and stats."""

from __future__ import annotations

import logging
from dataclasses import asdict

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import BadRequest

from admin_panel.api import id_arg, json_body, page_arg, string_field
from admin_panel.auth import admin_token_required, identity
from admin_panel.extensions import queue_depth, services
from admin_panel.schemas import action_json, balance_json, entry_json, job_json, page_json, purchase_json, user_json
from core import accounts, admin, billing, jobs, payments, stats
from core.enums import AdminActionKind, Bucket, JobStatus

logger = logging.getLogger(__name__)

bp = Blueprint("api_admin", __name__, url_prefix="/api/v1/admin")
JOB_STATUSES = tuple(JobStatus)


@bp.before_request
@admin_token_required
def _admins_only():
    """Every route here needs an admin token (401 without a token, 403 for a user's)."""
    return None


def status_arg() -> str | None:
    """The ?status= filter; 400 for an unknown status."""
    status = request.args.get("status") or None
    if status is not None and status not in JOB_STATUSES:
        raise BadRequest(f"status must be one of {', '.join(JOB_STATUSES)}.")
    return status


@bp.get("/users")
def users():
    """Users matching ?q= (email, username, first name), a page at a time."""
    q = request.args.get("q", "").replace("\x00", "")[:100]
    return jsonify(page_json(accounts.list_users(q, page_arg()), user_json))


@bp.get("/users/<int(min=1, max=2147483647):user_id>")
def user(user_id: int):
    """One user with the latest ledger entries and jobs."""
    found = accounts.get_user(user_id)
    return jsonify({**user_json(found),
                    "transactions": [entry_json(x) for x in billing.ledger(user_id, 1, 20).items],
                    "jobs": [job_json(x) for x in jobs.list_jobs(user_id, 1, 20).items]})


@bp.post("/users/<int(min=1, max=2147483647):user_id>/credits")
def adjust_credits(user_id: int):
    """Add or take credits with a reason (an adjustment in the ledger and the audit log)."""
    body = json_body()
    balance = admin.adjust_credits(identity().user_id, user_id, body.get("amount"), string_field(body, "reason"),
                                   body.get("bucket", Bucket.BONUS))
    return jsonify({"user_id": user_id, "balance": balance_json(balance)})


def reason_arg() -> str | None:
    """The optional reason of an action: JSON {"reason": "..."} (no body: none)."""
    if not request.get_data():
        return None
    body = json_body()
    return string_field(body, "reason") if "reason" in body else None


def _user_action(change, user_id: int):
    accounts.get_user(user_id)
    return jsonify(user_json(change(identity().user_id, user_id, reason_arg())))


# Each takes an optional JSON {"reason"}, kept in the audit log.
@bp.post("/users/<int(min=1, max=2147483647):user_id>/block")
def block(user_id: int):
    """Block a user: no sign-in, no new jobs, every token refused."""
    return _user_action(admin.block, user_id)


@bp.post("/users/<int(min=1, max=2147483647):user_id>/unblock")
def unblock(user_id: int):
    """Lift a block."""
    return _user_action(admin.unblock, user_id)


@bp.post("/users/<int(min=1, max=2147483647):user_id>/promote")
def promote(user_id: int):
    """Make a user an admin."""
    return _user_action(admin.promote, user_id)


@bp.post("/users/<int(min=1, max=2147483647):user_id>/demote")
def demote(user_id: int):
    """Take the admin role away at once; the last admin cannot be demoted (409)."""
    return _user_action(admin.demote, user_id)


@bp.get("/jobs")
def all_jobs():
    """Every job, newest first, optionally of one ?status=."""
    return jsonify(page_json(jobs.all_jobs(status_arg(), page_arg()), job_json))


@bp.post("/jobs/<job_id>/retry")
def retry(job_id: str):
    """Charge a failed job again and put it back in the queue."""
    return jsonify(job_json(admin.retry_job(identity().user_id, job_id, services().queue)))


@bp.get("/payments/<charge_id>")
def payment(charge_id: str):
    """A Telegram Stars purchase by its charge id, with its refund if it has one."""
    return jsonify(purchase_json(payments.purchase(charge_id)))


@bp.post("/payments/<charge_id>/refund")
def refund(charge_id: str):
    """Give a Stars payment back (refundStarPayment) and take its credits back; 409 the second time."""
    admin.refund_payment(identity().user_id, services().settings, charge_id, reason_arg())
    return jsonify(purchase_json(payments.purchase(charge_id)))


@bp.get("/audit")
def audit_log():
    """The audit log of admin actions, newest first: ?action=, ?admin_id=, ?user_id=, ?page=."""
    action = request.args.get("action") or None
    if action is not None and action not in tuple(AdminActionKind):
        raise BadRequest(f"action must be one of {', '.join(AdminActionKind)}.")
    found = admin.actions(page_arg(), action=action, admin_id=id_arg("admin_id"), user_id=id_arg("user_id"))
    return jsonify(page_json(found, action_json))


@bp.get("/stats")
def stats_view():
    """The dashboard's numbers."""
    board = stats.dashboard()
    data = asdict(board)
    data["jobs_per_day"] = [{"date": day.isoformat(), "count": n} for day, n in board.jobs_per_day]
    data["queue_depth"] = queue_depth()
    data["payments_reconciled"] = payments.reconciled_payments(0)[0]
    return jsonify(data)

