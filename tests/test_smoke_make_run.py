"""Follow the README as a newcomer would: a clean copy, `make run`, the REST API, Ctrl-C.

The copy has no var/ and no .venv of its own: `make run` sets everything up. It reuses this
checkout's virtual environment (VENV=...) so that the test does not reinstall every package,
and the tiny test model stands in for a real one (REMBG_MODEL_PATH)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import missing
from tests.support.multipart import multipart

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.executable).parent.parent

pytestmark = pytest.mark.slow


def clean_copy(target: Path) -> Path:
    """The repository's files as a fresh clone has them (tracked or new, never ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(method: str, url: str, body=None, token=None, headers=None):
    """One HTTP request; returns (status, headers, bytes)."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        body, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def photo() -> bytes:
    """A red square (the tiny model's subject) on a dark background."""
    image = Image.new("RGB", (96, 64), (10, 10, 40))
    image.paste((230, 20, 20), (30, 16, 66, 48))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def wait_until(predicate, what: str, process: subprocess.Popen, log: Path, timeout: float = 240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make run exited ({process.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def healthy(base: str) -> bool:
    try:
        return call("GET", f"{base}/healthz")[0] == 200
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_make_run_serves_a_cut_out_and_stops_cleanly_on_ctrl_c(tmp_path, tiny_model_path):
    if not shutil.which("make"):
        missing("make is not installed")
    repo = clean_copy(tmp_path / "cutout")
    assert not (repo / "var").exists() and not (repo / ".venv").exists()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    environ.update(PANEL_PORT=str(port), PUBLIC_URL=base, REMBG_MODEL_PATH=str(tiny_model_path),
                   ADMIN_EMAIL="owner@example.com", ADMIN_PASSWORD="owner-secret-1")
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(["make", "run", f"VENV={VENV}"], cwd=repo, env=environ, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: healthy(base), "the panel to answer /healthz", process, log)
        api = f"{base}/api/v1"
        credentials = {"email": "newcomer@example.com", "password": "newcomer-pass-1"}
        assert call("POST", f"{api}/auth/register", credentials)[0] == 201
        status, _, body = call("POST", f"{api}/auth/token", credentials)
        assert status == 200
        token = json.loads(body)["access_token"]
        form, content_type = multipart({"mode": "png"}, photo(), "red.png", "image/png")
        status, _, body = call("POST", f"{api}/jobs", form, token, {"Content-Type": content_type})
        assert status == 202, body
        job_id = json.loads(body)["id"]

        def finished():
            job = json.loads(call("GET", f"{api}/jobs/{job_id}", token=token)[2])
            return job if job["status"] in ("done", "failed") else None

        job = wait_until(finished, "the job to finish", process, log, timeout=120)
        assert job["status"] == "done", job
        status, headers, data = call("GET", f"{api}/jobs/{job_id}/result", token=token)
        assert status == 200 and headers["Content-Type"] == "image/png"
        cutout = Image.open(io.BytesIO(data))
        assert cutout.mode == "RGBA" and cutout.size == (96, 64)
        alpha = cutout.getchannel("A")
        assert alpha.getpixel((48, 32)) > 200 and alpha.getpixel((2, 2)) < 50
        assert (repo / "var" / "cutout.db").exists()  # the embedded default: SQLite under var/
    finally:
        with contextlib.suppress(ProcessLookupError):  # make run may have stopped on its own (a failure)
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        try:
            process.wait(60)
        finally:
            deadline = time.monotonic() + 30
            while group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = group_alive(process.pid)
            if left:
                os.killpg(process.pid, signal.SIGKILL)
    output = log.read_text()
    assert not left, f"processes were left running after Ctrl-C:\n{output[-3000:]}"
    assert "stopped" in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the panel's port is still open"
