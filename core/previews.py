"""Small pictures of a job for pages: the result's thumbnail (the history) and the original's
preview (before and after), made once from the stored files and kept beside them, so a page
never downloads the full file to show a picture; purge deletes them with the rest."""

from __future__ import annotations

import io

from PIL import Image

from core.errors import ResultGone
from core.jobs import get_job
from core.render import decode_image
from core.results import GONE, result_file
from core.storage import Store, job_key

THUMB_SIDE = 256
ORIGINAL_SIDE = 1280
MAX_PIXELS = 200_000_000  # the stored input passed MAX_PIXELS when it came in


def thumb_key(job_id) -> str:
    return job_key(job_id, "thumb.webp")


def original_key(job_id) -> str:
    return job_key(job_id, "original.jpg")


def thumbnail(job_id, user_id: int, storage: Store) -> bytes:
    """A WebP of the done result, at most THUMB_SIDE a side, transparency kept (result_file's
    rules: the owner's, done, not purged)."""
    result = result_file(job_id, storage, user_id)
    return _kept(storage, thumb_key(job_id), lambda: _small(Image.open(io.BytesIO(result.data)), THUMB_SIDE,
                                                                "WEBP", quality=80))


def original(job_id, user_id: int, storage: Store) -> bytes:
    """A JPEG of the photo as sent, upright, at most ORIGINAL_SIDE a side (the owner's only)."""
    job = get_job(job_id, user_id)
    if not job.input_key:
        raise ResultGone(GONE)

    def make() -> bytes:
        try:
            data = storage.get(job.input_key)
        except FileNotFoundError:
            raise ResultGone(GONE) from None
        photo = decode_image(data, max_bytes=len(data), max_pixels=MAX_PIXELS)
        return _small(photo.convert("RGB"), ORIGINAL_SIDE, "JPEG", quality=85)

    return _kept(storage, original_key(job.id), make)


def _kept(storage: Store, key: str, make) -> bytes:
    try:
        return storage.get(key)
    except FileNotFoundError:
        data = make()
        storage.put(key, data)
        return data


def _small(image: Image.Image, side: int, fmt: str, **params) -> bytes:
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()
