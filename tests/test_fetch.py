"""image_url: a download that cannot reach this server's own network, cannot be redirected
there, and stops at the size and time caps (core/fetch.py), with remove.bg's error codes."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from core.fetch import fetch_image, is_public
from core.removebg import RemoveBgError
from tests.support.images import encode, subject_image

PHOTO = encode(subject_image(), "PNG")


@contextmanager
def serving(routes: dict[str, tuple[int, dict, bytes, float]]) -> Iterator[str]:
    """A local HTTP server: path -> (status, headers, body, seconds to dawdle per 1 KB sent)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, headers, body, pause = routes.get(self.path, (404, {}, b"", 0))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            for start in range(0, len(body), 1024):
                self.wfile.write(body[start:start + 1024])
                self.wfile.flush()
                time.sleep(pause)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def loopback_only(address: str) -> bool:
    """A policy for the tests' own server: 127.0.0.1 passes, and nothing else."""
    return address == "127.0.0.1"


def code_of(call) -> str:
    with pytest.raises(RemoveBgError) as caught:
        call()
    return caught.value.code


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.0.5", "169.254.169.254",
                                     "::1", "fe80::1", "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1",
                                     "::127.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::", "::ffff:0:7f00:1",
                                     "2001:0:4136:e378:8000:63bf:80ff:fffe"])
def test_private_loopback_link_local_and_metadata_addresses_are_not_public(address):
    assert not is_public(address)


def test_public_addresses_are(address="93.184.215.14"):
    assert is_public(address) and is_public("2606:4700:4700::1111")


def test_a_url_at_this_server_or_the_metadata_service_is_refused_before_any_connection():
    for url in ("http://127.0.0.1:9/x.png", "http://localhost/x.png", "http://169.254.169.254/latest/meta-data/",
                "http://[::1]/x.png"):
        assert code_of(lambda url=url: fetch_image(url, max_bytes=10_000)) == "invalid_image_url", url


def test_only_well_formed_http_and_https_are_fetched():
    for url in ("file:///etc/passwd", "ftp://example.com/x.png", "gopher://x", "not a url",
                "http://example.com:99999/", "http://[::1/x", "http://a..b/"):
        assert code_of(lambda url=url: fetch_image(url, max_bytes=10_000)) == "invalid_image_url", url


def test_an_allowed_url_is_downloaded():
    with serving({"/p.png": (200, {"Content-Length": str(len(PHOTO))}, PHOTO, 0)}) as base:
        assert fetch_image(f"{base}/p.png", max_bytes=len(PHOTO), allowed=loopback_only) == PHOTO


def test_a_redirect_to_a_refused_address_is_refused():
    routes = {"/go": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"", 0),
              "/home": (302, {"Location": "http://localhost:9/"}, b"", 0)}
    with serving(routes) as base:
        assert code_of(lambda: fetch_image(f"{base}/go", max_bytes=10_000, allowed=loopback_only)) == \
            "invalid_image_url"
        # localhost resolves to 127.0.0.1, which this policy allows; the default policy does not.
        assert code_of(lambda: fetch_image(f"{base}/home", max_bytes=10_000)) == "invalid_image_url"


def test_a_redirect_loop_ends():
    with serving({"/a": (302, {"Location": "/a"}, b"", 0)}) as base:
        assert code_of(lambda: fetch_image(f"{base}/a", max_bytes=10_000, allowed=loopback_only)) == \
            "failed_image_download"


def test_a_download_over_the_size_cap_is_refused_with_or_without_content_length():
    body = b"x" * 50_000
    with serving({"/told": (200, {"Content-Length": str(len(body))}, body, 0),
                  "/untold": (200, {}, body, 0)}) as base:
        for path in ("/told", "/untold"):
            assert code_of(lambda path=path: fetch_image(f"{base}{path}", max_bytes=20_000, allowed=loopback_only)) == \
                "file_too_large", path


def test_a_download_that_dawdles_past_the_time_cap_is_refused():
    body = b"x" * 20_000  # 20 KB at 0.1 s a KB: 2 s, the cap is 0.5 s
    with serving({"/slow": (200, {}, body, 0.1)}) as base:
        began = time.monotonic()
        assert code_of(lambda: fetch_image(f"{base}/slow", max_bytes=100_000, timeout=0.5,
                                           allowed=loopback_only)) == "failed_image_download"
        assert time.monotonic() - began < 1.5


def test_an_error_status_is_a_failed_download():
    with serving({}) as base:
        assert code_of(lambda: fetch_image(f"{base}/missing", max_bytes=10_000, allowed=loopback_only)) == \
            "failed_image_download"
