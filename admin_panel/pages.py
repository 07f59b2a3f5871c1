"""Admin pages: dashboard, users, one user, jobs, transactions (server-rendered)."""

from __future__ import annotations

import io
import logging

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from PIL import Image, ImageOps
from werkzeug.exceptions import BadRequest, NotFound

from admin_panel import csrf
from admin_panel.api import id_arg, page_arg
from admin_panel.api_admin import JOB_STATUSES, status_arg
from admin_panel.auth import admin_required, page_identity
from admin_panel.extensions import queue_depth, services
from core import accounts, admin, billing, jobs, payments, stats
from core.enums import AdminActionKind, Bucket, EntryKind
from core.errors import CutoutError

logger = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")
THUMBNAIL_PX = 96
USER_ID = "<int(min=1, max=2147483647):user_id>"


@bp.before_request
@admin_required
def _admins_only():
    """Every page here is for signed-in admins; their forms carry a CSRF token."""
    if request.method in csrf.UNSAFE_METHODS:
        csrf.require_form_token()


@bp.get("/")
def dashboard():
    """Users, jobs by status, money, speed and the queue at a glance."""
    board = stats.dashboard()
    return render_template("admin/dashboard.html", board=board, queue_depth=queue_depth(),
                           chart=bar_chart(board.jobs_per_day), statuses=JOB_STATUSES,
                           reconciled=payments.reconciled_payments())


def bar_chart(days, width: int = 640, height: int = 160) -> dict:
    """Bars of an inline SVG chart of jobs per day (geometry only; the template draws it)."""
    peak = max((n for _, n in days), default=0) or 1
    slot = width / max(len(days), 1)
    bars = []
    for i, (day, n) in enumerate(days):
        bar_height = round((height - 36) * n / peak, 1)  # 20 px of day labels below, 16 of counts above
        bars.append({"x": round(i * slot + slot * 0.15, 1), "y": round(height - 20 - bar_height, 1),
                     "w": round(slot * 0.7, 1), "h": bar_height, "n": n, "label": day.strftime("%d %b"),
                     "tx": round(i * slot + slot / 2, 1)})
    return {"width": width, "height": height, "bars": bars, "peak": peak}


@bp.get("/users")
def users():
    """Search and page through users."""
    q = request.args.get("q", "").replace("\x00", "")[:100]
    return render_template("admin/users.html", page=accounts.list_users(q, page_arg()), q=q)


@bp.get(f"/users/{USER_ID}")
def user(user_id: int):
    """One user: balance, ledger, jobs and the actions on them."""
    ledger = billing.ledger(user_id, page_arg())
    return render_template("admin/user.html", user=accounts.get_user(user_id), ledger=ledger,
                           jobs=jobs.list_jobs(user_id, 1, 24), refundable=payments.refundable_among(ledger.items))


def _back_to_user(user_id: int):
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post(f"/users/{USER_ID}/credits")
def adjust_credits(user_id: int):
    """Add or take credits with a reason."""
    accounts.get_user(user_id)
    try:
        amount = int(request.form.get("amount", "").strip())
    except ValueError:
        flash("The amount must be a whole number (negative to take credits).", "error")
        return _back_to_user(user_id)
    try:
        balance = admin.adjust_credits(page_identity().user_id, user_id, amount, request.form.get("reason", ""),
                                       request.form.get("bucket", Bucket.BONUS))
    except CutoutError as exc:
        flash(exc.message, "error")
        return _back_to_user(user_id)
    flash(f"Adjusted by {amount:+d} credits; the balance is now {balance.total}.", "ok")
    return _back_to_user(user_id)


ACTIONS = {"block": (admin.block, "User blocked."), "unblock": (admin.unblock, "User unblocked."),
           "promote": (admin.promote, "User is now an admin."), "demote": (admin.demote, "User is no longer an admin.")}


@bp.post(f"/users/{USER_ID}/<action>")
def user_action(user_id: int, action: str):
    """Block, unblock, promote or demote a user, with an optional reason (kept in the audit log)."""
    if action not in ACTIONS:
        raise NotFound()
    change, message = ACTIONS[action]
    accounts.get_user(user_id)
    try:
        change(page_identity().user_id, user_id, request.form.get("reason"))
    except CutoutError as exc:
        flash(exc.message, "error")
    else:
        flash(message, "ok")
    return _back_to_user(user_id)


@bp.post("/payments/<charge_id>/refund")
def refund(charge_id: str):
    """Give a Stars payment back through Telegram and take its credits back."""
    purchase = payments.purchase(charge_id)
    try:
        done = admin.refund_payment(page_identity().user_id, services().settings, charge_id,
                                    request.form.get("reason"))
    except CutoutError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Payment {charge_id} refunded: {done.taken} credit(s) taken back"
              + (f", {done.shortfall} already spent." if done.shortfall else "."), "ok")
    return _back_to_user(purchase.user_id)


@bp.get("/jobs")
def job_list():
    """Every job, filtered by status, with errors and retry buttons."""
    status = status_arg()
    return render_template("admin/jobs.html", page=jobs.all_jobs(status, page_arg()), status=status,
                           statuses=JOB_STATUSES)


@bp.post("/jobs/<job_id>/retry")
def retry(job_id: str):
    """Charge a failed job again and queue it."""
    try:
        job = admin.retry_job(page_identity().user_id, job_id, services().queue)
    except CutoutError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Job {job.id[:8]} is queued again.", "ok")
    return redirect(request.form.get("back") if request.form.get("back", "").startswith("/admin/")
                    else url_for("admin.job_list"))


@bp.get("/audit")
def audit_log():
    """Every admin action, newest first, filtered by kind, admin or user."""
    action = request.args.get("action") or None
    if action is not None and action not in tuple(AdminActionKind):
        raise BadRequest("Unknown action.")
    admin_id, user_id = id_arg("admin_id"), id_arg("user_id")
    filters = {name: value for name, value in (("admin_id", admin_id), ("user_id", user_id)) if value}
    return render_template("admin/audit.html", page=admin.actions(page_arg(), action=action, **filters),
                           action=action, admin_id=admin_id, user_id=user_id, filters=filters,
                           kinds=list(AdminActionKind))


@bp.get("/transactions")
def transactions():
    """The whole ledger, newest first."""
    kind = request.args.get("kind") or None
    if kind is not None and kind not in tuple(EntryKind):
        raise BadRequest("Unknown kind.")
    return render_template("admin/transactions.html", page=billing.all_transactions(page_arg(), kind=kind),
                           kind=kind, kinds=list(EntryKind))


@bp.get("/jobs/<job_id>/thumbnail/<which>")
def thumbnail(job_id: str, which: str):
    """A small PNG of a job's input or output, addressed by job id only."""
    job = jobs.get_job(job_id)
    key = {"input": job.input_key, "output": job.output_key}.get(which)
    storage = services().storage
    if not key or not storage.exists(key):
        raise NotFound()
    response = Response(make_thumbnail(storage.get(key)), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def make_thumbnail(data: bytes, size: int = THUMBNAIL_PX) -> bytes:
    """A PNG at most size x size pixels (transparency kept)."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a fraction of full size
        small = ImageOps.exif_transpose(image)
        small = small.convert("RGBA" if "A" in small.getbands() or "transparency" in small.info else "RGB")
        small.thumbnail((size, size))
        out = io.BytesIO()
        small.save(out, "PNG")
    return out.getvalue()
