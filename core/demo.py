"""Demo data for a fresh database: three users, a ledger with mixed statuses, a few jobs whose
files exist (a done job has its cut-out, a queued one its photo)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from core import accounts, billing, jobs
from core.settings import Settings
from core.storage import Store, output_key
from core.views import UserView

DEMO_USERS = (
    {"telegram_id": 100000001, "username": "alice_demo", "first_name": "Alice"},
    {"telegram_id": 100000002, "username": "bob_demo", "first_name": "Bob"},
    {"telegram_id": 100000003, "username": "carol_demo", "first_name": "Carol"},
)


def seed_demo(settings: Settings, storage: Store) -> list[UserView]:
    """Create the demo users (idempotent) and their history; return them in id order."""
    users = []
    for profile in DEMO_USERS:
        user, created = accounts.register_telegram_user(signup_bonus=settings.signup_bonus_credits, **profile)
        if created:
            _history(user.id, profile["username"], settings, storage)
        users.append(accounts.get_user(user.id))
    return users


def _history(user_id: int, name: str, settings: Settings, storage: Store) -> None:
    if name == "alice_demo":
        billing.top_up(user_id, 50, payment_id=f"demo-{name}-1", note="Demo top-up")
        done = _job(user_id, settings, storage)
        key = output_key(done, "png")
        storage.put(key, _image(transparent=True))
        jobs.complete_job(done, output_key=key, content_type="image/png")
        _job(user_id, settings, storage)  # stays queued: its charge is pending
    elif name == "bob_demo":
        billing.top_up(user_id, 10, payment_id=f"demo-{name}-1", note="Demo top-up")
    else:
        failed = _job(user_id, settings, storage)
        jobs.fail_job(failed, "Demo: the image could not be read")


def _job(user_id: int, settings: Settings, storage: Store) -> str:
    """A job as a photo sent through the API makes it: stored and charged (not published)."""
    return jobs.create_job(user_id, _image(), {}, settings=settings, storage=storage, input_name="demo.png").id


def _image(transparent: bool = False) -> bytes:
    """A small picture: a red disc on grey, or on nothing."""
    image = Image.new("RGBA", (160, 120), (0, 0, 0, 0) if transparent else (90, 90, 90, 255))
    ImageDraw.Draw(image).ellipse((40, 20, 120, 100), fill=(220, 40, 40, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
