"""The worker's inference engine: which model file and family it loads, with which onnxruntime
options, one inference at a time with every usable core, and the execution providers it asks for."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import ModelUnavailable, SettingsError
from core.options import JobOptions
from tests.conftest import make_settings
from tests.support.images import decode, encode, subject_image
from worker import engine as engine_module
from worker.engine import ISNET, ISNET_ANIME, U2NET, RembgEngine, load_engine, named_model_file, session_options
from worker.pipeline import process_image
from worker.providers import CPU, check_providers, choose_providers

ROOT = Path(__file__).resolve().parent.parent
LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000}
# The subject of subject_image((120, 80)): the middle half.
SUBJECT_BOX = (30, 20, 90, 60)
CUDA = "CUDAExecutionProvider"


def subject_box_of(engine) -> tuple[int, int, int, int]:
    """Where the engine's mask of the test image is clearly opaque."""
    result = process_image(encode(subject_image()), JobOptions(mode="mask"), engine, **LIMITS)
    mask = np.asarray(decode(result.data))
    return Image.fromarray(((mask > 128) * 255).astype(np.uint8)).getbbox()


def assert_near(box, expected, tolerance=2):
    assert all(abs(a - b) <= tolerance for a, b in zip(box, expected, strict=True)), (box, expected)


@pytest.fixture(autouse=True)
def restore_model_home(monkeypatch):
    """Models run through rembg point its U2NET_HOME at MODEL_DIR; give other tests their environment back."""
    monkeypatch.delenv("U2NET_HOME", raising=False)


# --- which model ---------------------------------------------------------------------------------


def test_custom_model_path_runs_as_the_family_rembg_model_names(tiny_model_path, tmp_path):
    isnet = load_engine(make_settings(tmp_path, rembg_model_path=tiny_model_path))
    assert isnet.family == ISNET and isnet.model_name == "isnet-general-use"
    assert_near(subject_box_of(isnet), SUBJECT_BOX)
    u2net = load_engine(make_settings(tmp_path, rembg_model="u2net", rembg_model_path=tiny_model_path))
    assert u2net.family == U2NET
    assert_near(subject_box_of(u2net), SUBJECT_BOX)
    anime = load_engine(make_settings(tmp_path, rembg_model="isnet-anime", rembg_model_path=tiny_model_path))
    assert anime.family == ISNET_ANIME


def test_custom_model_path_with_a_model_name_of_no_known_family_is_refused(tiny_model_path, tmp_path):
    with pytest.raises(SettingsError, match="name its family"):
        load_engine(make_settings(tmp_path, rembg_model="birefnet-general", rembg_model_path=tiny_model_path))


@pytest.mark.parametrize("layout", ["flat", "per-model directory"])
def test_named_model_is_found_where_rembg_keeps_it(tiny_model_path, tmp_path, layout):
    target = tmp_path / "models" / ("isnet-general-use.onnx" if layout == "flat" else
                                    "models/isnet-general-use/isnet-general-use.onnx")
    target.parent.mkdir(parents=True)
    shutil.copy(tiny_model_path, target)
    named = load_engine(make_settings(tmp_path, rembg_model="isnet-general-use"))
    assert named.family == ISNET
    assert_near(subject_box_of(named), SUBJECT_BOX)


@pytest.mark.parametrize("name", ["isnet-general-use", "u2net", "silueta", "birefnet-general"])
def test_the_model_file_is_the_one_rembg_itself_would_load(tiny_model_path, tmp_path, monkeypatch, name):
    from rembg.sessions import sessions

    settings = make_settings(tmp_path, rembg_model=name)
    monkeypatch.setenv("U2NET_HOME", str(Path(settings.model_dir).resolve()))
    for place in (Path(settings.model_dir) / "models" / name, Path(settings.model_dir)):
        place.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_model_path, place / f"{name}.onnx")
        assert named_model_file(settings) == Path(sessions[name].resolve_existing(f"{name}.onnx")).resolve()


def test_other_rembg_models_run_through_rembgs_own_session(tiny_model_path, tmp_path):
    (tmp_path / "models").mkdir()
    shutil.copy(tiny_model_path, tmp_path / "models" / "birefnet-general.onnx")
    birefnet = load_engine(make_settings(tmp_path, rembg_model="birefnet-general"))
    assert isinstance(birefnet, RembgEngine)
    assert_near(subject_box_of(birefnet), SUBJECT_BOX, tolerance=3)


def test_rembgs_own_session_also_runs_one_inference_at_a_time(tiny_model_path, tmp_path):
    (tmp_path / "models").mkdir()
    shutil.copy(tiny_model_path, tmp_path / "models" / "birefnet-general.onnx")
    birefnet = load_engine(make_settings(tmp_path, rembg_model="birefnet-general"))
    inner = birefnet.rembg_session.inner_session
    gated = inner._session = _GatedSession(inner._session)
    image = subject_image().convert("RGB")
    threads = [threading.Thread(target=birefnet.predict_mask, args=(image,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert gated.entered.acquire(timeout=10)
    assert not gated.entered.acquire(timeout=0.3)  # the others wait for the first
    gated.go.set()
    for thread in threads:
        thread.join(10)
    assert gated.most == 1


def test_missing_model_path_names_make_model(tmp_path):
    with pytest.raises(ModelUnavailable, match="make model"):
        load_engine(make_settings(tmp_path, rembg_model_path=tmp_path / "absent.onnx"))


def test_missing_named_model_names_make_model_and_downloads_nothing(tmp_path):
    with pytest.raises(ModelUnavailable, match="make model"):
        load_engine(make_settings(tmp_path, rembg_model="isnet-general-use"))
    assert not any(tmp_path.rglob("*.onnx"))


def test_a_name_rembg_does_not_know_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="not a rembg model"):
        load_engine(make_settings(tmp_path, rembg_model="isnet-general-usage"))


def test_non_commercial_bria_model_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="non-commercial"):
        load_engine(make_settings(tmp_path, rembg_model="bria-rmbg"))


def test_isnet_and_u2net_models_run_without_importing_rembg(tiny_model_path, tmp_path):
    """rembg's package imports numba, scipy and pymatting (~170 MB per worker) for what the engine
    does not use; only models of another family pay for them."""
    script = (
        "import sys\nfrom pathlib import Path\nfrom tests.conftest import make_settings\n"
        "from worker.engine import load_engine\n"
        f"load_engine(make_settings(Path({str(tmp_path)!r}), rembg_model_path={str(tiny_model_path)!r}))\n"
        "print(sorted(name for name in ('rembg', 'numba', 'scipy', 'pymatting') if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- how it runs -----------------------------------------------------------------------------------


def test_one_engine_infers_with_every_usable_core(tiny_model_path, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "usable_cores", lambda: 3)
    engine = load_engine(make_settings(tmp_path, rembg_model_path=tiny_model_path, worker_threads=4))
    assert engine.threads == 3
    assert engine.session.get_session_options().intra_op_num_threads == 3


def test_worker_threads_do_not_divide_the_inference_threads(tiny_model_path, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "usable_cores", lambda: 8)
    for worker_threads in (1, 4, 16):
        engine = load_engine(make_settings(tmp_path, rembg_model_path=tiny_model_path, worker_threads=worker_threads))
        assert engine.session.get_session_options().intra_op_num_threads == 8


def test_session_options_keep_the_arena_drop_the_memory_pattern_and_do_not_spin():
    options = session_options(2)
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.enable_cpu_mem_arena is True
    assert options.enable_mem_pattern is False
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


class _GatedSession:
    """Wraps the real session: each run waits for the test's go-ahead and counts runs at once."""

    def __init__(self, real):
        self.real, self.running, self.most = real, 0, 0
        self.entered, self.go = threading.Semaphore(0), threading.Event()
        self._count = threading.Lock()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def run(self, *args, **kwargs):
        with self._count:
            self.running += 1
            self.most = max(self.most, self.running)
        self.entered.release()
        self.go.wait(10)
        try:
            return self.real.run(*args, **kwargs)
        finally:
            with self._count:
                self.running -= 1


def test_inference_is_taken_in_turn_while_the_next_photo_is_prepared(tiny_model_path, tmp_path, monkeypatch):
    engine = load_engine(make_settings(tmp_path, rembg_model_path=tiny_model_path))
    gated = engine.session = _GatedSession(engine.session)
    prepared = threading.Semaphore(0)
    real_input = engine_module.model_input

    def counted_input(image, family):
        batch = real_input(image, family)
        prepared.release()
        return batch

    monkeypatch.setattr(engine_module, "model_input", counted_input)
    image = subject_image().convert("RGB")
    threads = [threading.Thread(target=engine.predict_mask, args=(image,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert gated.entered.acquire(timeout=10)
    # While the first photo is in inference, the other three are prepared and wait their turn.
    for _ in range(4):
        assert prepared.acquire(timeout=10)
    assert not gated.entered.acquire(timeout=0.2)
    gated.go.set()
    for thread in threads:
        thread.join(10)
    assert gated.most == 1


# --- execution providers ---------------------------------------------------------------------------


def test_the_default_runs_on_the_cpu():
    assert choose_providers("CPUExecutionProvider") == [CPU]
    assert choose_providers("") == [CPU]


def test_an_accelerator_this_build_has_comes_first_with_the_cpu_behind_it(monkeypatch):
    preloaded = []
    monkeypatch.setattr(engine_module.ort, "preload_dlls", lambda: preloaded.append(True), raising=False)
    assert choose_providers(f"{CUDA},{CPU}", available=[CUDA, CPU]) == [CUDA, CPU]
    assert choose_providers(CUDA, available=[CUDA, CPU]) == [CUDA, CPU]
    assert preloaded  # onnxruntime-gpu finds the CUDA libraries of the nvidia-* wheels


def test_an_accelerator_this_build_lacks_falls_back_to_the_cpu_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert choose_providers(f"{CUDA},{CPU}", available=["AzureExecutionProvider", CPU]) == [CPU]
    assert "CUDAExecutionProvider" in caplog.text and "onnxruntime-gpu" in caplog.text


def test_a_provider_name_onnxruntime_does_not_know_is_a_settings_error():
    with pytest.raises(SettingsError, match="ONNX_PROVIDERS: CUDAProvider"):
        choose_providers("CUDAProvider,CPUExecutionProvider")


def test_a_session_that_fell_back_to_the_cpu_is_reported(caplog):
    with caplog.at_level(logging.WARNING):
        check_providers([CUDA, CPU], [CUDA, CPU])
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        check_providers([CPU], [CUDA, CPU])
    assert "falls back to the CPU" in caplog.text


def test_a_worker_asked_for_cuda_on_a_cpu_build_still_cuts_out(tiny_model_path, tmp_path, caplog):
    settings = make_settings(tmp_path, rembg_model_path=tiny_model_path, onnx_providers=f"{CUDA},{CPU}")
    with caplog.at_level(logging.INFO):
        engine = load_engine(settings)
    assert engine.providers == [CPU]
    assert "onnxruntime-gpu" in caplog.text
    assert f"{CPU}, {engine.threads} inference threads" in caplog.text  # which provider it got
    assert_near(subject_box_of(engine), SUBJECT_BOX)
