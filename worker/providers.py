"""onnxruntime execution providers: ONNX_PROVIDERS chosen against what this build offers, CPU last."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import onnxruntime as ort

from core.errors import SettingsError

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"


def choose_providers(requested: str, available: Sequence[str] | None = None,
                     known: Sequence[str] | None = None) -> list[str]:
    """The providers to ask onnxruntime for, in ONNX_PROVIDERS order: a name onnxruntime does not
    know is a configuration error; one this build lacks is skipped with a warning; CPU is always last."""
    available = ort.get_available_providers() if available is None else available
    known = ort.get_all_providers() if known is None else known
    names = list(dict.fromkeys(name.strip() for name in requested.split(",") if name.strip())) or [CPU]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SettingsError(f"ONNX_PROVIDERS: {', '.join(unknown)} is not an onnxruntime execution provider "
                            f"(for example CUDAExecutionProvider,{CPU})")
    lacking = [name for name in names if name not in available]
    if lacking:
        logger.warning("ONNX_PROVIDERS asks for %s, which this onnxruntime lacks (it has %s); for CUDA install "
                       "onnxruntime-gpu (requirements-gpu.txt) instead of onnxruntime", ", ".join(lacking),
                       ", ".join(available))
    chosen = [name for name in names if name in available and name != CPU]
    if any(name.startswith("CUDA") or name.startswith("Tensorrt") for name in chosen):
        _preload_cuda()
    return [*chosen, CPU]


def check_providers(active: Sequence[str], chosen: Sequence[str]) -> None:
    """Warn when an accelerator was chosen but the session runs on the CPU (onnxruntime falls back
    quietly when, say, the CUDA or cuDNN libraries are missing or of another major version)."""
    wanted = [name for name in chosen if name != CPU]
    if wanted and (not active or active[0] == CPU):
        logger.warning("%s could not be loaded (see onnxruntime's message above: usually missing or mismatched "
                       "CUDA/cuDNN libraries); inference falls back to the CPU, which is much slower",
                       ", ".join(wanted))


def _preload_cuda() -> None:
    """onnxruntime-gpu's loader for the CUDA and cuDNN libraries of the nvidia-* wheels
    (`onnxruntime-gpu[cuda,cudnn]`); a build without it relies on the system's libraries."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        preload()
    except Exception as exc:  # the libraries may come from the system instead
        logger.info("onnxruntime.preload_dlls: %s", exc)
