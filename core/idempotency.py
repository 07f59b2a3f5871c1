"""Idempotency-Key for job submissions: the same key from the same user within a day stands for
the same request; its first job answers again and nothing more is charged."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from core.errors import IdempotencyConflict, InvalidIdempotencyKey
from core.models import IdempotencyKey, utcnow
from core.options import JobOptions

KEEP = timedelta(hours=24)
# Printable ASCII without spaces, as HTTP header values and the common client libraries make them.
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def check_key(key: str) -> str:
    """The key, or InvalidIdempotencyKey."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidIdempotencyKey("The Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.")
    return key


def fingerprint(data: bytes, options: JobOptions) -> str:
    """What makes two requests the same: the image and the options."""
    return hashlib.sha256(options.to_json().encode() + b"\0" + data).hexdigest()


def earlier_job(user_id: int, key: str, print_: str) -> str | None:
    """The job an earlier request with this key made (within a day); IdempotencyConflict when that
    request was another one."""
    row = (IdempotencyKey.select().where(IdempotencyKey.user == user_id, IdempotencyKey.key == key,
                                         IdempotencyKey.created_at > utcnow() - KEEP).first())
    if row is None:
        return None
    if row.fingerprint != print_:
        raise IdempotencyConflict("This Idempotency-Key was used for another request in the last 24 hours.")
    return str(row.job_id)


def remember(user_id: int, key: str, print_: str, job_id) -> None:
    """Record the key with its job; inside the job's transaction (a concurrent twin fails here)."""
    IdempotencyKey.delete().where(IdempotencyKey.user == user_id, IdempotencyKey.key == key,
                                  IdempotencyKey.created_at <= utcnow() - KEEP).execute()
    IdempotencyKey.create(user=user_id, key=key, fingerprint=print_, job=job_id)
