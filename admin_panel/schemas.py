"""Views as JSON (the shapes the OpenAPI document describes)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from flask import url_for

from core.admin import ActionView
from core.enums import JobStatus
from core.payments import Purchase, Refund
from core.views import Balance, JobView, LedgerEntry, Page, UserView


def _time(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def balance_json(balance: Balance) -> dict:
    return {"bonus": balance.bonus, "paid": balance.paid, "total": balance.total}


def user_json(user: UserView) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "telegram_id": user.telegram_id,
        "username": user.username,
        "name": user.display_name,
        "role": "admin" if user.is_admin else "user",
        "is_blocked": user.is_blocked,
        "language": user.language,
        "balance": balance_json(user.balance),
        "created_at": _time(user.created_at),
    }


def job_json(job: JobView, position: int | None = None) -> dict:
    """`position`: the job's place in line while it is queued (1: next), given where one job is asked
    about; null in lists and once it has left the line."""
    return {
        "id": job.id,
        "user_id": job.user_id,
        "status": job.status,
        "position": position or None,
        "price": job.price,
        "source": job.source,
        "options": asdict(job.options),
        "attempts": job.attempts,
        "error": job.error,
        "input_name": job.input_name,
        "input_format": job.input_format,
        "first_frame_only": job.first_frame_only,  # an animation: its first frame was cut out
        "width": job.width,
        "height": job.height,
        "content_type": job.output_content_type,
        "result_url": url_for("api.job_result", job_id=job.id) if job.status == JobStatus.DONE else None,
        # Made again with other options by POST render_url: only a done job whose mask is kept.
        "render_url": (url_for("api.render_job", job_id=job.id)
                       if job.status == JobStatus.DONE and job.mask_key else None),
        "model": job.model,
        "created_at": _time(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
    }


def entry_json(entry: LedgerEntry) -> dict:
    return {
        "id": entry.id,
        "user_id": entry.user_id,
        "kind": entry.kind,
        "amount": entry.amount,
        "bucket": entry.bucket,
        "status": entry.status,
        "balance_after": entry.balance_after,
        "job_id": entry.job_id,
        "note": entry.note,
        "created_at": _time(entry.created_at),
    }


def action_json(action: ActionView) -> dict:
    return {"id": action.id, "admin_id": action.admin_id, "admin": action.admin_name, "action": action.action,
            "user_id": action.user_id, "user": action.user_name, "subject": action.subject, "reason": action.reason,
            "detail": action.detail, "created_at": _time(action.created_at)}


def refund_json(refund: Refund) -> dict:
    return {"credits_taken": refund.taken, "shortfall": refund.shortfall, "note": refund.note,
            "created_at": _time(refund.created_at)}


def purchase_json(purchase: Purchase) -> dict:
    return {"charge_id": purchase.charge_id, "user_id": purchase.user_id, "telegram_id": purchase.telegram_id,
            "credits": purchase.credits, "note": purchase.note, "created_at": _time(purchase.created_at),
            "refund": refund_json(purchase.refund) if purchase.refund else None}


def page_json(page: Page, item_json) -> dict:
    return {"items": [item_json(item) for item in page.items], "page": page.page, "per_page": page.per_page,
            "total": page.total, "pages": page.pages}
