"""Demo data for a fresh database: three users, a ledger with mixed statuses, a few jobs."""

from __future__ import annotations

from core import accounts, billing, jobs
from core.db import db
from core.models import Job
from core.views import UserView

DEMO_USERS = (
    {"telegram_id": 100000001, "username": "alice_demo", "first_name": "Alice"},
    {"telegram_id": 100000002, "username": "bob_demo", "first_name": "Bob"},
    {"telegram_id": 100000003, "username": "carol_demo", "first_name": "Carol"},
)


def seed_demo(signup_bonus: int = 3, price: int = 1) -> list[UserView]:
    """Create the demo users (idempotent) and their history; return them in id order."""
    users = []
    for profile in DEMO_USERS:
        user, created = accounts.register_telegram_user(signup_bonus=signup_bonus, **profile)
        if created:
            _history(user.id, profile["username"], price)
        users.append(accounts.get_user(user.id))
    return users


def _history(user_id: int, name: str, price: int) -> None:
    if name == "alice_demo":
        billing.top_up(user_id, 50, payment_id=f"demo-{name}-1", note="Demo top-up")
        done = _job(user_id, price)
        jobs.complete_job(done, output_key=f"{done.replace('-', '')}/output.png", content_type="image/png")
        _job(user_id, price)  # stays queued: its charge is pending
    elif name == "bob_demo":
        billing.top_up(user_id, 10, payment_id=f"demo-{name}-1", note="Demo top-up")
    else:
        failed = _job(user_id, price)
        jobs.fail_job(failed, "Demo: the image could not be read")


def _job(user_id: int, price: int) -> str:
    """A job row without a file: the demo only needs its ledger entries."""
    with db.atomic():
        job = Job.create(user=user_id, source="api", price=price, input_name="demo.jpg")
        billing.take_credits(user_id, price, "charge", job=job.id, status="pending")
    return str(job.id)

