"""The image and the proxy: the Dockerfile's non-root user, baked model and GPU variant, .dockerignore, nginx.conf."""

from __future__ import annotations

import re

from core.settings import Settings
from tests.support.deploy import NGINX_CONF, ROOT

MIB = 1024 * 1024


# --- nginx ---


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()
    return int(number) * {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}[unit.lower()]


def test_nginx_accepts_the_largest_upload_plus_its_multipart_envelope():
    conf = NGINX_CONF.read_text()
    sizes = re.findall(r"^\s*client_max_body_size\s+(\S+);", conf, re.MULTILINE)
    assert len(sizes) == 1
    limit, largest = _bytes(sizes[0]), Settings().max_upload_bytes
    assert largest < limit <= largest + 2 * MIB


def test_nginx_passes_the_client_to_the_panel():
    conf = NGINX_CONF.read_text()
    assert "proxy_pass http://admin_panel:8000;" in conf
    for header in ("Host $host", "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme"):
        assert f"proxy_set_header {header};" in conf


# --- the image ---


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), " ".join(rest.split())))
    return pairs


def test_the_image_runs_as_a_non_root_user_with_the_model_baked_in():
    steps = _instructions((ROOT / "Dockerfile").read_text())
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    assert final[0][1].startswith("python:3.11-slim")
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    runs = [args for word, args in final if word == "RUN"]
    assert any("python -m worker.model_fetch" in run for run in runs)
    envs = " ".join(args for word, args in final if word == "ENV")
    assert "MODEL_DIR=/app/models" in envs
    # Without it, rembg's import (pymatting's cached numba functions) fails for a non-root user.
    assert "NUMBA_CACHE_DIR=" in envs
    installs = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert installs and all("requirements.txt" in args and "requirements-dev" not in args for args in installs)
    copied = " ".join(args for word, args in final if word == "COPY")
    for package in ("core/", "worker/", "bot/", "admin_panel/"):
        assert package in copied


def test_the_gpu_image_swaps_onnxruntime_for_onnxruntime_gpu():
    steps = _instructions((ROOT / "Dockerfile").read_text())
    assert ("ARG", "ONNXRUNTIME=cpu") in steps
    install = next(args for word, args in steps if word == "RUN" and "requirements-gpu.txt" in args)
    assert 'if [ "$ONNXRUNTIME" = gpu ]' in install and "pip uninstall --yes onnxruntime" in install
    pins = [line for line in (ROOT / "requirements-gpu.txt").read_text().splitlines() if line and line[0] != "#"]
    assert pins == ["onnxruntime-gpu[cuda,cudnn]==1.31.1"]


def test_dockerignore_keeps_local_state_and_weights_out_of_the_build():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "var", ".git", ".env", "*.onnx", "node_modules", ".pytest_cache", ".hypothesis"} <= ignored
