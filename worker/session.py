"""The rembg session: loaded once per worker process, warmed up, then shared by every job."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image
from rembg.sessions import sessions as rembg_sessions
from rembg.sessions.base import BaseSession
from rembg.sessions.dis_anime import DisSession as DisAnimeSession
from rembg.sessions.dis_custom import DisCustomSession
from rembg.sessions.dis_general_use import DisSession as DisGeneralUseSession
from rembg.sessions.silueta import SiluetaSession
from rembg.sessions.u2net import U2netSession
from rembg.sessions.u2net_custom import U2netCustomSession
from rembg.sessions.u2net_human_seg import U2netHumanSegSession
from rembg.sessions.u2netp import U2netpSession

from core.errors import ModelUnavailable, SettingsError
from core.settings import Settings

logger = logging.getLogger(__name__)

# Never a default for a paid service: its licence allows non-commercial use only.
FORBIDDEN_MODELS = {"bria-rmbg"}

_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_HALF = ((0.5, 0.5, 0.5), (1.0, 1.0, 1.0))
# How each family prepares its input (mean, std, square side): copied from the sessions' predict().
_PREPROCESS: list[tuple[type[BaseSession], tuple, tuple, int]] = [
    (DisCustomSession, *_HALF, 1024),
    (DisGeneralUseSession, *_HALF, 1024),
    (DisAnimeSession, _IMAGENET[0], (1.0, 1.0, 1.0), 1024),
    (U2netCustomSession, *_IMAGENET, 320),
    (U2netSession, *_IMAGENET, 320),
    (U2netpSession, *_IMAGENET, 320),
    (U2netHumanSegSession, *_IMAGENET, 320),
    (SiluetaSession, *_IMAGENET, 320),
]
# A prediction whose values span less than this carries no subject/background contrast; stretching
# it to 0..1 (rembg's min-max scaling) would divide by ~zero and turn noise into a mask.
MIN_CONTRAST = 0.05


class _ConfiguredPathMixin:
    """Trust the operator's REMBG_MODEL_PATH instead of requiring it under rembg's home directory."""

    @classmethod
    def download_models(cls, *args, **kwargs) -> str:
        return str(Path(kwargs["model_path"]).expanduser().resolve())


class ConfiguredDisSession(_ConfiguredPathMixin, DisCustomSession):
    """rembg's dis_custom session (ISNet family) for a configured ONNX file."""


class ConfiguredU2netSession(_ConfiguredPathMixin, U2netCustomSession):
    """rembg's u2net_custom session (U2-Net family) for a configured ONNX file."""


def custom_session_class(model_name: str) -> type[BaseSession]:
    """The rembg custom session matching the family of REMBG_MODEL (ISNet or U2-Net)."""
    if model_name == "dis_custom" or model_name.startswith("isnet"):
        return ConfiguredDisSession
    if model_name == "u2net_custom" or model_name.startswith(("u2net", "silueta")):
        return ConfiguredU2netSession
    raise SettingsError(
        f"REMBG_MODEL_PATH needs REMBG_MODEL to name its family (isnet-general-use or u2net), got {model_name!r}"
    )


def session_options(settings: Settings) -> ort.SessionOptions:
    """onnxruntime options: the cores shared among the worker's threads, no oversubscription."""
    options = ort.SessionOptions()
    cores = os.cpu_count() or 1
    options.intra_op_num_threads = max(1, cores // max(1, settings.worker_threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return options


def use_model_dir(settings: Settings) -> Path:
    """Point rembg at MODEL_DIR (it reads U2NET_HOME when it looks for model files)."""
    model_dir = Path(settings.model_dir).expanduser().resolve()
    os.environ["U2NET_HOME"] = str(model_dir)
    return model_dir


def named_model_file(settings: Settings) -> Path | None:
    """Where rembg would find REMBG_MODEL under MODEL_DIR, or None if it is not there."""
    session_class = rembg_sessions.get(settings.rembg_model)
    if session_class is None:
        raise SettingsError(f"REMBG_MODEL {settings.rembg_model!r} is not a rembg model")
    use_model_dir(settings)
    found = session_class.resolve_existing(f"{session_class.name()}.onnx")
    return Path(found) if found else None


def load_session(settings: Settings) -> BaseSession:
    """Create the process's rembg session from REMBG_MODEL_PATH or REMBG_MODEL, then warm it up."""
    if settings.rembg_model in FORBIDDEN_MODELS:
        raise SettingsError(f"{settings.rembg_model} is licensed for non-commercial use only; pick another model")
    started = time.monotonic()
    options = session_options(settings)
    if settings.rembg_model_path:
        path = Path(settings.rembg_model_path).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"REMBG_MODEL_PATH {path} does not exist; run `make model` or fix the path")
        session_class = custom_session_class(settings.rembg_model)
        session = session_class(session_class.name(), options, model_path=str(path))
        source = str(path)
    else:
        found = named_model_file(settings)
        if found is None:
            raise ModelUnavailable(
                f"model {settings.rembg_model!r} is not in {settings.model_dir}; run `make model` "
                "(nothing is downloaded at run time)"
            )
        session_class = rembg_sessions[settings.rembg_model]
        session = session_class(settings.rembg_model, options)
        source = str(found)
    warm_up(session)
    logger.info(
        "model %s loaded from %s in %.1f s (%d onnxruntime threads)",
        session.model_name,
        source,
        time.monotonic() - started,
        options.intra_op_num_threads,
    )
    return session


def warm_up(session: BaseSession) -> None:
    """Run one small inference so the first job does not pay for onnxruntime's lazy set-up."""
    predict_mask(session, Image.new("RGB", (64, 64), (128, 128, 128)))


def predict_mask(session: BaseSession, image: Image.Image) -> Image.Image:
    """The model's mask ("L", the image's size) for an RGB image, never NaN."""
    params = _preprocess_params(session)
    if params is None:  # a family we do not know: rembg's own predict, whatever its scaling does
        with np.errstate(divide="ignore", invalid="ignore"):
            return session.predict(image)[0]
    mean, std, side = params
    prediction = _run(session, _model_input(image, mean, std, side))
    small = Image.fromarray(np.rint(stretch(prediction) * 255).astype(np.uint8), mode="L")
    # Bilinear is ample for upscaling a soft mask and much cheaper than Lanczos at 12 MP.
    return small.resize(image.size, Image.Resampling.BILINEAR)


def _preprocess_params(session: BaseSession) -> tuple[tuple, tuple, int] | None:
    for session_class, mean, std, side in _PREPROCESS:
        if isinstance(session, session_class):
            return mean, std, side
    return None


def _model_input(image: Image.Image, mean: tuple, std: tuple, side: int) -> np.ndarray:
    """rembg's normalisation (scale by the brightest value, then mean/std), in float32."""
    # reducing_gap shrinks by an integer factor first: the same result as plain Lanczos to the
    # eye, several times faster from 12 MP.
    small = image.resize((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.asarray(small, dtype=np.float32)
    pixels /= max(float(pixels.max()), 1e-6)
    pixels -= np.asarray(mean, dtype=np.float32)
    pixels /= np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))[np.newaxis]


def _run(session: BaseSession, batch: np.ndarray) -> np.ndarray:
    inner = session.inner_session
    model_input = inner.get_inputs()[0]
    if model_input.type == "tensor(float16)":
        batch = batch.astype(np.float16)
    # Only the first output: ISNet also returns side outputs and feature maps (~100 MB a run).
    output = inner.run([inner.get_outputs()[0].name], {model_input.name: batch})[0]
    return np.asarray(output[0, 0], dtype=np.float32)


def stretch(prediction: np.ndarray) -> np.ndarray:
    """rembg's min-max scaling to 0..1, guarded: a flat prediction keeps its own values."""
    prediction = np.nan_to_num(prediction, nan=0.0, posinf=1.0, neginf=0.0)
    low, high = float(prediction.min()), float(prediction.max())
    if high - low < MIN_CONTRAST:
        return np.clip(prediction, 0.0, 1.0)
    return (prediction - low) / (high - low)
