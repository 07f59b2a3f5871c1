"""gunicorn as `python -m admin_panel` runs it (the shipped thread count): twenty synchronous
remove.bg requests that wait at once do not starve /healthz or the job API, and each ends in a
504 with its job id when no worker takes the jobs within SYNC_TIMEOUT_SECONDS."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from tests.support.images import encode, subject_image
from tests.support.multipart import multipart
from tests.test_panel_server import _free_port

ROOT = Path(__file__).resolve().parent.parent
AT_ONCE = 20


def call(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 30) -> tuple[int, dict | None, float]:
    began = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    raw = response.read()
    took = time.monotonic() - began
    connection.close()
    try:
        return response.status, json.loads(raw), took
    except ValueError:
        return response.status, None, took


def start_server(tmp_path: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "APP_ENV": "test", "JWT_SECRET": "s" * 40,
           "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite", "STORAGE_DIR": str(tmp_path / "storage"),
           "PANEL_HOST": "127.0.0.1", "PANEL_PORT": str(port), "AMQP_URL": "", "SYNC_TIMEOUT_SECONDS": "4",
           "SIGNUP_BONUS_CREDITS": "50", "MAX_JOBS_IN_FLIGHT": "50"}
    subprocess.run([sys.executable, "-m", "core", "migrate"], cwd=tmp_path, env=env, check=True, capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "admin_panel"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if call(port, "GET", "/healthz", timeout=2)[0] == 200:
                return server
        except OSError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, "the panel did not come up"
        time.sleep(0.1)


def api_key(port: int) -> tuple[str, str]:
    """(access token, API key) of a new account."""
    email = f"load-{uuid.uuid4().hex[:8]}@example.com"
    credentials = json.dumps({"email": email, "password": "a long enough password"}).encode()
    status, _, _ = call(port, "POST", "/api/v1/auth/register", credentials, {"Content-Type": "application/json"})
    assert status == 201
    _, body, _ = call(port, "POST", "/api/v1/auth/token", credentials, {"Content-Type": "application/json"})
    token = body["access_token"]
    _, body, _ = call(port, "POST", "/api/v1/auth/apikey", b"", {"Authorization": f"Bearer {token}"})
    _, signed_in, _ = call(port, "POST", "/api/v1/auth/token", credentials, {"Content-Type": "application/json"})
    return signed_in["access_token"], body["access_token"]  # a new key ends the sessions before it


def test_twenty_waiting_requests_leave_healthz_and_the_job_api_fast(tmp_path):
    port = _free_port()
    server = start_server(tmp_path, port)
    try:
        token, key = api_key(port)
        body, content_type = multipart({}, encode(subject_image(), "JPEG"), field="image_file")
        answers: list[tuple[int, dict | None, float]] = []

        def remove_background() -> None:
            answers.append(call(port, "POST", "/v1.0/removebg", body,
                                {"X-Api-Key": key, "Content-Type": content_type}))

        clients = [threading.Thread(target=remove_background) for _ in range(AT_ONCE)]
        for client in clients:
            client.start()
        bearer = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 3
        while (listed := call(port, "GET", "/api/v1/jobs", headers=bearer))[1].get("total", 0) < AT_ONCE:
            assert time.monotonic() < deadline, f"the requests did not all become jobs: {listed}"
            time.sleep(0.05)
        quick = [call(port, "GET", path, headers=bearer)
                 for path in ("/healthz", "/api/v1/jobs", "/api/v1/me", "/healthz", "/api/v1/jobs") * 2]
        for client in clients:
            client.join(30)
    finally:
        server.terminate()
        server.communicate(timeout=20)
    assert all(status == 200 for status, _, _ in quick)
    assert max(took for _, _, took in quick) < 0.5  # while twenty requests still wait
    assert len(answers) == AT_ONCE
    assert all(status == 504 and answer["job_id"] for status, answer, _ in answers)
    assert all(3.5 < took < 10 for _, _, took in answers)  # each waited SYNC_TIMEOUT_SECONDS, then answered
