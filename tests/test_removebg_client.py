"""A client written for remove.bg itself (the `removebg` package from PyPI, unchanged but for its
endpoint constant, as an integration changes its base URL) works against Cutout over real HTTP."""

from __future__ import annotations

import base64
import threading

import pytest
import removebg.removebg as client
from werkzeug.serving import make_server

from core import billing, tokens
from tests.support.images import decode, encode, subject_image
from tests.support.panel import Panel
from worker.service import start_workers


@pytest.fixture
def endpoint(sqlite_settings, engine, monkeypatch):
    """Cutout's panel on a loopback port with a worker; the client pointed at it. (panel, base URL)"""
    panel = Panel.build(sqlite_settings)
    server = make_server("127.0.0.1", 0, panel.app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    stop = threading.Event()
    workers = start_workers(sqlite_settings, panel.queue, engine, stop, storage=panel.storage, sweep=False)
    monkeypatch.setattr(client, "API_ENDPOINT", f"http://127.0.0.1:{server.server_port}/v1.0/removebg")
    yield panel
    stop.set()
    for worker in workers:
        worker.join(10)
    server.shutdown()
    panel.app.extensions["cutout"].finished.close()


def test_the_removebg_package_cuts_out_a_file_and_a_base64_image(endpoint, tmp_path, monkeypatch):
    user = endpoint.user(credits=3)
    key = tokens.issue_api_key(user.id, endpoint.settings)
    photo = tmp_path / "shoe.jpg"
    subject_image((120, 80)).save(photo, "JPEG", quality=95)
    client.RemoveBg(key, str(tmp_path / "errors.log")).remove_background_from_img_file(str(photo), size="hd")
    result = decode((tmp_path / "shoe.jpg_no_bg.png").read_bytes())
    assert result.mode == "RGBA" and result.size == (120, 80) and result.getpixel((60, 40))[3] > 200
    monkeypatch.chdir(tmp_path)
    b64 = base64.b64encode(encode(subject_image((90, 60)), "PNG")).decode()
    client.RemoveBg(key, "errors.log").remove_background_from_base64_img(b64, bg_color="white")
    on_white = decode((tmp_path / "no-bg.png").read_bytes())
    assert on_white.mode == "RGB" and on_white.getpixel((1, 1)) == (255, 255, 255)
    assert billing.balance(user.id).total == 2  # hd paid; the regular (0.25 MP) one a free preview
