"""The fake Bot API served over HTTP on 127.0.0.1, for a bot running in another process."""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from tests.support.fake_bot_api import FakeBotApi


class FakeBotApiServer:
    """The fake over HTTP on 127.0.0.1 (a free port), for a bot in another process."""

    def __init__(self, api: FakeBotApi | None = None):
        self.api = api or FakeBotApi()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self.api))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fake-bot-api", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/file/bot"

    def __enter__(self) -> FakeBotApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


def _handler_for(api: FakeBotApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            prefix = f"/file/bot{api.token}/"
            path = unquote(self.path)
            if path.startswith(prefix):
                status, body = api.download(path[len(prefix):])
                self._reply(status, body, "application/octet-stream")
            else:
                self._api_call({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            self._api_call(*_parse_body(self.headers.get("Content-Type", ""), body))

        def _api_call(self, params: dict, files: dict | None = None) -> None:
            prefix = f"/bot{api.token}/"
            if not self.path.startswith(prefix):
                self._reply(404, b'{"ok": false, "error_code": 404, "description": "Not Found"}')
                return
            status, answer = api.handle(self.path[len(prefix):].split("?")[0], params, files or {})
            self._reply(status, json.dumps(answer).encode())

        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            """Quiet: the calls are recorded instead."""

    return Handler


def _parse_body(content_type: str, body: bytes) -> tuple[dict, dict]:
    """Parameters and files of a JSON, form-encoded or multipart request."""
    if content_type.startswith("application/json"):
        return (json.loads(body) if body else {}), {}
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        params, files = {}, {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename() is not None:
                files[name] = (part.get_filename(), part.get_payload(decode=True))
            else:
                params[name] = _value(part.get_payload(decode=True).decode())
        return params, files
    return {key: _value(value) for key, value in parse_qsl(body.decode())}, {}


def _value(raw: str) -> Any:
    """PTB sends nested values and numbers JSON-encoded and plain strings as they are."""
    if raw[:1] in "[{" or raw in ("true", "false") or raw.lstrip("-").isdigit():
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw
