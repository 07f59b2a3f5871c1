"""The inference engine: ONE onnxruntime session per process, shared by every consumer thread.

One photo is inferred at a time with every core the process may use (its affinity and its
container's CPU quota), so a lone photo gets all of them and a busy worker never runs more
inference threads than cores; decoding, resizing, encoding and storage of the other jobs in
hand run outside the lock, in their own threads. See docs/benchmarks.md ("Latency") for why.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from core.cpus import usable_cores
from core.errors import ModelUnavailable, SettingsError
from core.metrics import WORKER_INFERENCE_THREADS
from core.settings import Settings
from worker.memory import release_freed_memory
from worker.providers import check_providers, choose_providers

logger = logging.getLogger(__name__)

# Never a default for a paid service: its licence allows non-commercial use only.
FORBIDDEN_MODELS = {"bria-rmbg"}
# A prediction whose values span less than this carries no subject/background contrast; stretching
# it to 0..1 (rembg's min-max scaling) would divide by ~zero and turn noise into a mask.
MIN_CONTRAST = 0.05


@dataclass(frozen=True)
class Family:
    """How a model family prepares its input (mean, std, square side): as rembg's sessions do in predict()."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    side: int


_IMAGENET_MEAN, _IMAGENET_STD, _ONES = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), (1.0, 1.0, 1.0)
ISNET = Family((0.5, 0.5, 0.5), _ONES, 1024)
ISNET_ANIME = Family(_IMAGENET_MEAN, _ONES, 1024)
U2NET = Family(_IMAGENET_MEAN, _IMAGENET_STD, 320)
# rembg's models whose input and output this engine prepares itself; any other rembg model runs
# through rembg's own session (and its predict), imported only then.
FAMILIES = {
    "isnet-general-use": ISNET, "dis_custom": ISNET, "isnet-anime": ISNET_ANIME,
    "u2net": U2NET, "u2netp": U2NET, "u2net_human_seg": U2NET, "silueta": U2NET, "u2net_custom": U2NET,
}


def custom_family(model_name: str) -> Family:
    """The family of a REMBG_MODEL_PATH file, named by REMBG_MODEL (ISNet or U2-Net)."""
    if model_name in FAMILIES:
        return FAMILIES[model_name]
    if model_name.startswith("isnet"):
        return ISNET
    if model_name.startswith(("u2net", "silueta")):
        return U2NET
    raise SettingsError(
        f"REMBG_MODEL_PATH needs REMBG_MODEL to name its family (isnet-general-use or u2net), got {model_name!r}"
    )


def named_model_file(settings: Settings) -> Path | None:
    """Where rembg keeps REMBG_MODEL under MODEL_DIR (its U2NET_HOME): the model's own directory,
    then the older flat layout; None if it is in neither."""
    home, name = Path(settings.model_dir).expanduser().resolve(), settings.rembg_model
    for candidate in (home / "models" / name / f"{name}.onnx", home / f"{name}.onnx"):
        if candidate.is_file():
            return candidate
    return None


def session_options(threads: int) -> ort.SessionOptions:
    """onnxruntime options for the one session of a process; the choices are measured in
    docs/benchmarks.md ("Memory per worker")."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # The memory pattern plans a second, pre-sized copy of every activation: 2.2 GB instead of
    # 1.4 GB with ISNet at 1024², at the same speed. The arena stays on: without it every run
    # pays the page faults of ~0.7 GB of fresh activations (+25-60% per photo).
    options.enable_mem_pattern = False
    options.enable_cpu_mem_arena = True
    # Threads done with their share of an operator sleep instead of spinning: no slower for a lone
    # photo, and the other jobs' decoding and encoding get the cores meanwhile.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


class Engine:
    """The process's model. `predict_mask` may be called from any thread; inference itself is
    taken in turn, everything around it runs in the caller's thread."""

    def __init__(self, session: ort.InferenceSession, family: Family, model_name: str, threads: int):
        self.session, self.family, self.model_name, self.threads = session, family, model_name, threads
        self._lock = threading.Lock()
        self._input = session.get_inputs()[0]
        self._output = session.get_outputs()[0].name  # ISNet's side outputs would cost ~100 MB a run

    @property
    def providers(self) -> list[str]:
        """The execution providers the session got, best first."""
        return self.session.get_providers()

    def predict_mask(self, image: Image.Image) -> Image.Image:
        """The model's mask ("L", the image's size) for an RGB image, never NaN."""
        batch = model_input(image, self.family)
        if self._input.type == "tensor(float16)":
            batch = batch.astype(np.float16)
        with self._lock:
            output = self.session.run([self._output], {self._input.name: batch})[0]
        levels = stretch(np.asarray(output[0, 0], dtype=np.float32)) * 255.0 + 0.5
        small = Image.fromarray(levels.astype(np.uint8), mode="L")
        # Bilinear is ample for upscaling a soft mask and much cheaper than Lanczos at 12 MP.
        return small.resize(image.size, Image.Resampling.BILINEAR)


class RembgEngine(Engine):
    """A rembg model of a family this module does not prepare itself: rembg's own session and
    predict, with only its onnxruntime run taken in turn."""

    def __init__(self, rembg_session, model_name: str, threads: int):
        self.session, self.model_name, self.threads = rembg_session.inner_session, model_name, threads
        self.family = None
        rembg_session.inner_session = _TakenInTurn(self.session)
        self.rembg_session = rembg_session

    def predict_mask(self, image: Image.Image) -> Image.Image:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.rembg_session.predict(image)[0]


class _TakenInTurn:
    """An onnxruntime session whose runs wait for each other."""

    def __init__(self, session: ort.InferenceSession):
        self._session, self._lock = session, threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self._session, name)

    def run(self, *args, **kwargs):
        with self._lock:
            return self._session.run(*args, **kwargs)


def model_input(image: Image.Image, family: Family) -> np.ndarray:
    """rembg's normalisation (scale by the brightest value, then mean/std), in float32, NCHW."""
    # reducing_gap shrinks by an integer factor first: the same result as plain Lanczos to the
    # eye, several times faster from 12 MP.
    small = np.asarray(image.resize((family.side, family.side), Image.Resampling.LANCZOS, reducing_gap=3.0))
    # (pixel / brightest - mean) / std as one multiply and one subtract per channel, written
    # straight into the model's channel-first layout: no float64, no transposed copy.
    brightest = max(int(small.max()), 1)
    batch = np.empty((1, 3, family.side, family.side), dtype=np.float32)
    for channel in range(3):
        np.multiply(small[:, :, channel], np.float32(1.0 / (brightest * family.std[channel])), out=batch[0, channel])
        batch[0, channel] -= np.float32(family.mean[channel] / family.std[channel])
    return batch


def stretch(prediction: np.ndarray) -> np.ndarray:
    """rembg's min-max scaling to 0..1, guarded: a flat prediction keeps its own values."""
    prediction = np.nan_to_num(prediction, nan=0.0, posinf=1.0, neginf=0.0)
    low, high = float(prediction.min()), float(prediction.max())
    if high - low < MIN_CONTRAST:
        return np.clip(prediction, 0.0, 1.0)
    return (prediction - low) / (high - low)


def load_engine(settings: Settings, *, threads: int | None = None) -> Engine:
    """The process's engine for REMBG_MODEL_PATH or REMBG_MODEL, warmed up. `threads`: the
    inference threads, by default every usable core."""
    if settings.rembg_model in FORBIDDEN_MODELS:
        raise SettingsError(f"{settings.rembg_model} is licensed for non-commercial use only; pick another model")
    started, threads = time.monotonic(), threads or usable_cores()
    providers = choose_providers(settings.onnx_providers)
    options = session_options(threads)
    if settings.rembg_model_path:
        path, family = Path(settings.rembg_model_path).expanduser(), custom_family(settings.rembg_model)
        if not path.is_file():
            raise ModelUnavailable(f"REMBG_MODEL_PATH {path} does not exist; run `make model` or fix the path")
    else:
        path, family = _named_model(settings), FAMILIES.get(settings.rembg_model)
    if family is None:
        engine: Engine = RembgEngine(_rembg_session(settings, options, providers), settings.rembg_model, threads)
    else:
        session = ort.InferenceSession(str(path), options, providers=providers)
        engine = Engine(session, family, settings.rembg_model, threads)
    check_providers(engine.providers, providers)
    release_freed_memory()  # the graph optimiser's garbage: ~240 MB with ISNet
    engine.predict_mask(Image.new("RGB", (64, 64), (128, 128, 128)))  # onnxruntime's lazy set-up
    logger.info("model %s loaded from %s in %.1f s: %s, %d inference threads, one photo at a time",
                engine.model_name, path, time.monotonic() - started, engine.providers[0], threads)
    WORKER_INFERENCE_THREADS.set(threads)
    return engine


def _named_model(settings: Settings) -> Path:
    found = named_model_file(settings)
    if found is None:
        if settings.rembg_model not in FAMILIES:
            rembg_session_class(settings.rembg_model)  # an unknown name says so, not "run make model"
        raise ModelUnavailable(
            f"model {settings.rembg_model!r} is not in {settings.model_dir}; run `make model` "
            "(nothing is downloaded at run time)"
        )
    return found


def rembg_session_class(model_name: str):
    """rembg's session class for a model name; SettingsError if rembg has no such model."""
    from rembg.sessions import sessions  # ~170 MB of imports (numba, scipy): only when needed

    session_class = sessions.get(model_name)
    if session_class is None:
        raise SettingsError(f"REMBG_MODEL {model_name!r} is not a rembg model")
    return session_class


def use_model_dir(settings: Settings) -> None:
    """Point rembg at MODEL_DIR (it reads U2NET_HOME when it looks for, or downloads, model files)."""
    os.environ["U2NET_HOME"] = str(Path(settings.model_dir).expanduser().resolve())


def _rembg_session(settings: Settings, options: ort.SessionOptions, providers: list[str]):
    use_model_dir(settings)
    return rembg_session_class(settings.rembg_model)(settings.rembg_model, options, providers=providers)

