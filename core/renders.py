"""Re-renders: a done job made again with other options from its stored input and the model's
stored mask, without the model and without the queue (tens of milliseconds, not seconds).
The same rules for every front end: the owner only; PRICE_PER_RENDER credits (0 by default),
taken with the render's row in one transaction; at most MAX_RENDERS_PER_JOB per job and
MAX_RENDERS_PER_MINUTE per person; a purged photo cannot be rendered, and is never charged."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

from core import accounts, billing
from core.db import db
from core.enums import EntryKind, JobStatus
from core.errors import (
    InsufficientCredits,
    JobNotFound,
    JobNotReady,
    RenderUnavailable,
    ResultGone,
    TooManyRenders,
)
from core.jobs import get_job
from core.models import Render, Transaction, utcnow
from core.options import JobOptions, check_fits, parse_options
from core.ratelimit import Limiter, Rule
from core.render import ProcessedImage, rerender
from core.storage import Store
from core.views import JobView

logger = logging.getLogger(__name__)

GONE = "The photo is no longer stored; send it again."


@dataclass(frozen=True)
class RenderedFile:
    """A re-render's file, and what it cost."""

    data: bytes
    content_type: str
    filename: str
    render_id: int
    price: int
    options: JobOptions


def options_for(job: JobView, changes: dict) -> JobOptions:
    """The job's options with `changes` (the front end's names and values) applied; InvalidOptions."""
    return parse_options({**asdict(job.options), **changes})


def shown_file(job_id, render_id: int | None, user_id: int) -> tuple[str, JobOptions]:
    """(job id, options) of the file a person is looking at: a re-render's, or its job's result;
    JobNotFound when it is not theirs (a forged button cannot reach another's photo)."""
    if render_id is None:
        job = get_job(job_id, user_id)
        return job.id, job.options
    render = Render.get_or_none((Render.id == render_id) & (Render.user == user_id))
    if render is None:
        raise JobNotFound()
    return str(render.job_id), JobOptions.from_json(render.options)


def renders_of(job_id) -> int:
    return Render.select().where(Render.job == str(job_id)).count()


def render_job(job_id, user_id: int, changes: dict, *, settings, storage: Store,
               limiter: Limiter | None = None, background: bytes | None = None) -> RenderedFile:
    """The job's photo made again with `changes` to its options (on a `background` image, which
    makes it colour mode), charged PRICE_PER_RENDER.
    JobNotFound (not the owner's), JobNotReady, RenderUnavailable (no mask kept), ResultGone
    (purged), TooManyRenders, InsufficientCredits, InvalidOptions."""
    job = get_job(job_id, user_id)
    accounts.require_active(user_id)
    if job.status != JobStatus.DONE:
        raise JobNotReady(f"The job is {job.status}; it can be made again once it is done.")
    if not job.mask_key or not job.input_key:
        raise RenderUnavailable("This photo was made before results could be changed; send it again.")
    options = options_for(job, {**changes, "mode": "color"} if background is not None else changes)
    check_fits(options, job.width or 0, job.height or 0)
    if renders_of(job.id) >= settings.max_renders_per_job:
        raise TooManyRenders(f"This photo has been made again {settings.max_renders_per_job} times already; "
                             "send it again for more.")
    if limiter is not None:
        wait = limiter.hit(Rule("renders", settings.max_renders_per_minute, 60), f"user:{user_id}")
        if wait:
            seconds = math.ceil(wait)
            raise TooManyRenders(f"Too many changes at once; try again in {seconds} seconds.", retry_after=seconds)
    price = settings.price_per_render
    held = billing.balance(user_id).total if price else 0
    if held < price:  # before any decoding: no free CPU without credits
        raise InsufficientCredits(f"A change costs {price} credit(s); you have {held}.")
    result = made_again(job, options, settings=settings, storage=storage, background=background)
    with db.atomic():
        billing.lock_user(user_id)  # serialises this person's renders: the count below is exact
        if renders_of(job.id) >= settings.max_renders_per_job:
            raise TooManyRenders(f"This photo has been made again {settings.max_renders_per_job} times already.")
        render = Render.create(job=job.id, user=user_id, options=options.to_json(), price=price)
        if price:
            billing.take_credits(user_id, price, EntryKind.RENDER, note=f"render {render.id} of job {job.id}")
    logger.info("job %s rendered again as %s (render %d, %d credit(s))", job.id, options.mode, render.id, price)
    name = job.result_filename.rsplit(".", 1)[0]
    return RenderedFile(result.data, result.content_type, f"{name}.{options.extension}", render.id, price, options)


def made_again(job: JobView, options: JobOptions, *, settings, storage: Store,
               background: bytes | None = None) -> ProcessedImage:
    """The job's photo rendered with `options` from its kept input and mask (no checks, no charge);
    ResultGone once they are purged."""
    try:
        photo, mask = storage.get(job.input_key), storage.get(job.mask_key)
    except FileNotFoundError:
        raise ResultGone(GONE) from None
    return rerender(photo, mask, options, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels,
                    background=background)


def refund_render(render_id: int) -> bool:
    """Give a render's price back once (its file never reached the person); False if there was
    nothing to give back or it was given already."""
    with db.atomic():
        render = Render.get_or_none(Render.id == render_id)
        if render is None:
            return False
        billing.lock_user(render.user_id)
        first = Render.update(refunded_at=utcnow()).where(Render.id == render_id, Render.refunded_at.is_null())
        if first.execute() == 0:
            return False
        note = f"render {render.id} of job {render.job_id}"
        for charge in Transaction.select().where(Transaction.kind == EntryKind.RENDER, Transaction.note == note,
                                                 Transaction.amount < 0):
            billing.move_credits(render.user_id, charge.bucket, -charge.amount, EntryKind.RENDER,
                                 note=f"{note}: not delivered, refunded")
    logger.info("render %d refunded", render_id)
    return True
