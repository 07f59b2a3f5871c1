"""The real ISNet model from `make model` cuts out real photos (scikit-image's astronaut, chelsea, coffee).

Skipped with a reason when the model is absent; under CI=true a missing model is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from core.options import JobOptions
from tests.conftest import make_settings, missing
from tests.support.images import decode, encode
from worker.engine import load_engine
from worker.model_fetch import usable_model
from worker.pipeline import process_image

ROOT = Path(__file__).resolve().parent.parent
LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000}

# Per photo, boxes (left, top, right, bottom) in its own pixels: one inside the subject, and
# background corners. The astronaut's lower corners hold her suit and helmet; the cat's lower left
# is her chest.
PHOTOS = {
    "astronaut": {"subject": (150, 250, 300, 400), "background": [(0, 0, 40, 40), (472, 0, 512, 40)]},
    "chelsea": {"subject": (150, 80, 300, 220), "background": [(0, 0, 30, 30), (421, 0, 451, 30)]},
    "coffee": {
        "subject": (220, 60, 360, 220),
        "background": [(0, 0, 40, 40), (560, 0, 600, 40), (0, 360, 40, 400), (560, 360, 600, 400)],
    },
}


def find_real_model(tmp_path: Path):
    """Settings that load the model from `make model` (or REMBG_MODEL_PATH); None if there is none."""
    settings = make_settings(
        tmp_path,
        model_dir=os.environ.get("MODEL_DIR") or ROOT / "var" / "models",
        rembg_model_path=os.environ.get("REMBG_MODEL_PATH", ""),
        worker_threads=1,
    )
    return usable_model(settings)


@pytest.fixture(scope="module")
def real_engine(tmp_path_factory):
    """The real model's engine, loaded once; skip without it, fail under CI=true."""
    settings = find_real_model(tmp_path_factory.mktemp("real-model"))
    if settings is None:
        missing("the real-model tests need the ISNet model: run `make model`")
    return load_engine(settings)


@pytest.fixture(scope="module")
def masks(real_engine):
    """Each photo's mask from the pipeline's mask mode, computed once per photo on first use."""
    cache: dict[str, np.ndarray] = {}

    def mask_of(name: str) -> np.ndarray:
        if name not in cache:
            photo = encode(Image.fromarray(getattr(skimage.data, name)()), "JPEG", quality=92)
            result = process_image(photo, JobOptions(mode="mask"), real_engine, **LIMITS)
            cache[name] = np.asarray(decode(result.data))
        return cache[name]

    return mask_of


def region(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = box
    return mask[top:bottom, left:right]


@pytest.mark.parametrize("name", PHOTOS)
def test_subject_of_a_real_photo_is_opaque(masks, name):
    assert (region(masks(name), PHOTOS[name]["subject"]) > 128).mean() > 0.95


@pytest.mark.parametrize("name", PHOTOS)
def test_background_corners_of_a_real_photo_are_transparent(masks, name):
    for box in PHOTOS[name]["background"]:
        assert (region(masks(name), box) < 128).mean() > 0.95, box


@pytest.mark.parametrize("name", PHOTOS)
def test_mask_of_a_real_photo_is_a_soft_cut_not_a_trivial_one(masks, name):
    mask = masks(name)
    opaque, transparent = (mask > 230).mean(), (mask < 25).mean()
    assert 0.15 < opaque < 0.9 and 0.1 < transparent < 0.85
    assert 0 < ((mask >= 25) & (mask <= 230)).mean() < 0.25  # soft edges exist, but only at the edges
