"""Admission: whether a person may submit another photo now, and at what price. The same rules
for every front end; core.jobs applies them inside the job's transaction, and a front end may ask
first (check_can_submit) to refuse before it downloads anything."""

from __future__ import annotations

from core.accounts import require_active
from core.errors import InsufficientCredits, TooManyJobs
from core.models import Job
from core.ratelimit import Limiter, Rule
from core.settings import Settings


def price_of(user_id: int, settings: Settings, preview: bool) -> int:
    """A photo's price; counted inside the job's transaction, so a refused job uses no free preview."""
    free = Rule("free-previews", settings.free_previews_per_day, 86400)
    if preview and settings.free_previews_per_day and not Limiter().hit(free, f"user:{user_id}"):
        return settings.price_preview
    return settings.price_per_image


def free_previews_left(user_id: int, settings: Settings) -> int:
    """The person's previews at PRICE_PREVIEW still left today."""
    free = Rule("free-previews", settings.free_previews_per_day, 86400)
    return max(0, settings.free_previews_per_day - Limiter().used(free, f"user:{user_id}"))


def check_can_submit(user_id: int, settings: Settings) -> None:
    """The rules create_job applies before anything is stored, for a front end to refuse a photo
    before it fetches it: UserBlocked, InsufficientCredits or TooManyJobs."""
    user = require_active(user_id)
    if user.balance.total < settings.price_per_image:
        raise InsufficientCredits(f"This needs {settings.price_per_image} credit(s).")
    check_in_flight(user_id, settings)


def check_in_flight(user_id: int, settings: Settings, album_id: int | None = None, counted: bool = False) -> None:
    """TooManyJobs when this request would make more than MAX_JOBS_IN_FLIGHT of the person's
    requests queued or processing (`counted`: its job is among them already). An album's photos
    are one request, whoever counts them."""
    active = Job.in_flight(user_id)
    singles = active.where(Job.album.is_null()).count()
    albums = {row.album_id for row in active.select(Job.album).where(Job.album.is_null(False)).distinct()}
    if album_id is not None:  # this album is the one request added below
        albums.discard(album_id)
        counted = False
    limit = settings.max_jobs_in_flight
    if singles + len(albums) + (0 if counted else 1) > limit:
        raise TooManyJobs(f"You already have {limit} photos in progress; wait for one to finish.")
