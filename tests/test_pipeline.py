"""The image pipeline with a tiny ONNX model loaded through rembg's custom session."""

from __future__ import annotations

import pytest

from core.errors import ModelUnavailable
from core.options import JobOptions
from tests.conftest import make_settings
from tests.support.images import SUBJECT, decode, encode, subject_image
from worker.pipeline import process_image
from worker.session import ConfiguredDisSession, load_session

LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000}


@pytest.fixture(scope="module")
def session(tiny_model_path, tmp_path_factory):
    """One session for the module, as a worker process has."""
    settings = make_settings(tmp_path_factory.mktemp("pipeline"), rembg_model_path=tiny_model_path)
    return load_session(settings)


def run(data: bytes, session, **options):
    return process_image(data, JobOptions(**options), session, **LIMITS)


def test_custom_model_path_loads_through_rembg_dis_custom_session(session):
    assert isinstance(session, ConfiguredDisSession)
    assert session.name() == "dis_custom"


def test_missing_model_path_names_make_model(tmp_path):
    settings = make_settings(tmp_path, rembg_model_path=tmp_path / "absent.onnx")
    with pytest.raises(ModelUnavailable, match="make model"):
        load_session(settings)


def test_missing_named_model_names_make_model_and_downloads_nothing(tmp_path):
    settings = make_settings(tmp_path, rembg_model="isnet-general-use")
    with pytest.raises(ModelUnavailable, match="make model"):
        load_session(settings)
    assert not any((tmp_path / "models").rglob("*.onnx"))


def test_png_mode_keeps_subject_opaque_and_background_transparent(session):
    result = run(encode(subject_image((120, 80))), session)
    image = decode(result.data)
    assert (result.content_type, image.format, image.mode, image.size) == ("image/png", "PNG", "RGBA", (120, 80))
    assert (result.width, result.height) == (120, 80)
    assert image.getpixel((60, 40)) == (*SUBJECT, 255)
    assert image.getpixel((5, 5))[3] == 0
