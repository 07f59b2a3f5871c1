"""The image pipeline run as a worker runs it, and measures of its results (alpha, opaque box)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.options import JobOptions
from tests.support.images import decode
from worker.pipeline import process_image

LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000}
# The subject of subject_image((120, 80)): the middle half.
SUBJECT_BOX = (30, 20, 90, 60)


def run(data: bytes, engine, limits=LIMITS, **options):
    return process_image(data, JobOptions(**options), engine, **limits)


def alpha_of(result) -> np.ndarray:
    return np.asarray(decode(result.data).getchannel("A"))


def opaque_box(result) -> tuple[int, int, int, int]:
    """Bounding box of the clearly opaque pixels of an RGBA result."""
    return Image.fromarray(((alpha_of(result) > 128) * 255).astype(np.uint8)).getbbox()


def assert_near(box, expected, tolerance=2):
    assert all(abs(a - b) <= tolerance for a, b in zip(box, expected, strict=True)), (box, expected)
