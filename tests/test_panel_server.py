"""`python -m admin_panel`: gunicorn with options from Settings, serving the app."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from admin_panel import create_app
from admin_panel.__main__ import server_options
from core.errors import SettingsError
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent


def test_server_options_come_from_settings(tmp_path):
    settings = make_settings(tmp_path, panel_host="0.0.0.0", panel_port=9123, panel_workers=3)
    options = server_options(settings)
    assert options["bind"] == "0.0.0.0:9123"
    assert options["workers"] == 3
    assert options["worker_class"] == "gthread"


def test_app_refuses_to_start_without_a_secret_outside_development(tmp_path):
    with pytest.raises(SettingsError):
        create_app(make_settings(tmp_path, jwt_secret=""))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def test_python_m_admin_panel_serves_with_gunicorn(tmp_path):
    port = _free_port()
    env = {**os.environ, "APP_ENV": "development", "JWT_SECRET": "", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
           "STORAGE_DIR": str(tmp_path / "storage"), "PANEL_HOST": "127.0.0.1", "PANEL_PORT": str(port),
           "PANEL_WORKERS": "1", "AMQP_URL": ""}
    subprocess.run([sys.executable, "-m", "core", "migrate"], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                   check=True, capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "admin_panel"], cwd=tmp_path,
                              env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = _get(port, "/healthz")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        assert status == 200 and b'"status":"ok"' in body
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    assert "Using worker: gthread" in output
    assert "JWT_SECRET is empty" in output
