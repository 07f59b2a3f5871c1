"""Small pictures of a job for pages: the result's thumbnail (the history) and the original's
preview (before and after), made once from the stored files and kept beside them, so a page
never downloads the full file to show a picture; purge deletes them with the rest. A page
assumes sRGB: both are converted to it with the photo's colour profile, and carry no metadata."""

from __future__ import annotations

import io

from PIL import Image

from core import colour
from core.errors import ResultGone
from core.jobs import get_job
from core.render import encode, open_photo
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

    def make() -> bytes:
        picture = Image.open(io.BytesIO(result.data))
        picture.load()
        shown = colour.to_srgb(picture, colour.readable(picture.info.get("icc_profile")))
        return _small(shown, THUMB_SIDE, "WEBP", quality=80)

    return _kept(storage, thumb_key(job_id), make)


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
        photo = open_photo(data, max_bytes=len(data), max_pixels=MAX_PIXELS)
        return _small(colour.to_srgb(photo.rgb, photo.icc), ORIGINAL_SIDE, "JPEG", quality=85)

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
    return encode(image, fmt, **params)
