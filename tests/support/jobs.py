"""Jobs as the tests see them: a small PNG to submit, a job's status and its rows in the ledger."""

from __future__ import annotations

import io

from PIL import Image

from core import jobs
from core.models import Transaction


def png(size=(16, 12), color="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def status_of(job_id) -> str:
    return jobs.get_job(job_id).status


def ledger_of(job_id) -> list[tuple[str, int, str]]:
    rows = Transaction.select().where(Transaction.job == job_id).order_by(Transaction.id)
    return [(row.kind, row.amount, row.status) for row in rows]


def charges(job_id):
    return list(Transaction.select().where(Transaction.job == job_id).order_by(Transaction.id))
