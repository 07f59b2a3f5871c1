"""deploy/nginx.conf run by a real nginx in front of a stand-in panel: what it passes on and what
it keeps to the internal network (/metrics)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import missing
from tests.support.deploy import NGINX_CONF


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Upstream(BaseHTTPRequestHandler):
    """The panel's stand-in: answers 200 to everything and remembers what reached it."""

    seen: list[str] = []

    def do_GET(self):
        type(self).seen.append(self.path)
        body = f"panel saw {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        missing("nginx is not installed (apt-get install nginx-light)")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    Upstream.seen = []
    port = free_port()
    server = (NGINX_CONF.read_text()
              .replace("listen 80;", f"listen 127.0.0.1:{port};")
              .replace("http://admin_panel:8000", f"http://127.0.0.1:{upstream.server_address[1]}"))
    (tmp_path / "server.conf").write_text(server)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n client_body_temp_path {tmp_path}/body;\n proxy_temp_path {tmp_path}/proxy;\n"
        f" include {tmp_path}/server.conf;\n}}\n")
    process = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)
    upstream.shutdown()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_nginx_keeps_metrics_to_the_internal_network(proxy):
    assert get(f"{proxy}/metrics")[0] == 404
    assert get(f"{proxy}/metrics?x=1")[0] == 404
    assert "/metrics" not in " ".join(Upstream.seen)


def test_nginx_passes_everything_else_to_the_panel(proxy):
    for path in ("/healthz", "/api/v1/me", "/admin/", "/metricsx"):
        status, body = get(f"{proxy}{path}")
        assert (status, body) == (200, f"panel saw {path}")
