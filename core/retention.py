"""Deleting old files of finished jobs."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from core.db import db
from core.enums import FINISHED
from core.models import Job, utcnow
from core.previews import original_key, thumb_key
from core.storage import Store

logger = logging.getLogger(__name__)

_AGE = re.compile(r"^(\d+)([dhm])$")


def parse_age(text: str) -> timedelta:
    """'30d', '12h' or '90m' as a timedelta; raise ValueError otherwise."""
    match = _AGE.match(text.strip())
    if not match:
        raise ValueError(f"an age looks like 30d, 12h or 90m, not {text!r}")
    number, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: number})


def purge_files(storage: Store, older_than: timedelta) -> int:
    """Delete inputs, outputs and masks of finished jobs created before the cutoff; mark them purged."""
    cutoff = utcnow() - older_than
    query = Job.select().where(Job.created_at < cutoff, Job.purged_at.is_null(),
                               Job.status.in_(FINISHED))
    purged = 0
    for job in query:
        for key in filter(None, (job.input_key, job.output_key, job.mask_key, thumb_key(job.id),
                                 original_key(job.id))):
            storage.delete(key)
        with db.atomic():
            Job.update(purged_at=utcnow()).where(Job.id == job.id).execute()
        purged += 1
    logger.info("purged the files of %d job(s) older than %s", purged, older_than)
    return purged
