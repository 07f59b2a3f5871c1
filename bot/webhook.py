"""Webhook mode: a small tornado server that refuses any request without Telegram's secret token.

PTB's own run_webhook compares the secret with `!=` (telegram/ext/_utils/webhookhandler.py), which
is not constant-time, so the check lives here, with hmac.compare_digest.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import signal
from http import HTTPStatus
from urllib.parse import urlparse

import tornado.httpserver
import tornado.web
from telegram import Update
from telegram.ext import Application

from core.errors import SettingsError
from core.settings import Settings

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An update is a few kilobytes (files come by file_id); anything near this is not Telegram.
MAX_BODY_BYTES = 1024 * 1024
# Telegram's rule for secret_token: 1-256 characters, A-Z, a-z, 0-9, _ and -.
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def webhook_problem(settings: Settings) -> str | None:
    """Why the webhook settings cannot work, or None."""
    if not settings.telegram_webhook_url.startswith("https://"):
        return "TELEGRAM_WEBHOOK_URL must be an https:// URL"
    if not SECRET_PATTERN.match(settings.telegram_webhook_secret):
        return ("TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL: 1-256 characters of "
                "A-Z, a-z, 0-9, _ and -")
    return None


def secret_matches(supplied: str | None, secret: str) -> bool:
    """Constant-time comparison of the header with the secret."""
    return hmac.compare_digest((supplied or "").encode(), secret.encode())


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """POST of one update: the secret and the size are checked on the headers, before any of the
    body is read; the body is then parsed and put on the application's update queue."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, telegram: Application, secret: str) -> None:
        self.telegram = telegram
        self.secret = secret
        self.body = bytearray()

    def prepare(self) -> None:
        """On the headers alone: refuse a stranger, and a body too large to be an update."""
        if not secret_matches(self.request.headers.get(SECRET_HEADER), self.secret):
            logger.warning("refused a webhook request without the right secret from %s", self.request.remote_ip)
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        declared = self.request.headers.get("Content-Length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            raise tornado.web.HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        # tornado's own cap (a 400) stays above ours, so a chunked body over ours gets the 413 below.
        self.request.connection.set_max_body_size(2 * MAX_BODY_BYTES)

    def data_received(self, chunk: bytes) -> None:
        if len(self.body) + len(chunk) > MAX_BODY_BYTES:  # a chunked body says its size only as it comes
            raise tornado.web.HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        self.body += chunk

    async def post(self) -> None:
        try:
            update = Update.de_json(json.loads(bytes(self.body)), self.telegram.bot)
        except (ValueError, TypeError, KeyError) as exc:
            logger.warning("refused a webhook body that is not an update: %s", exc)
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST) from None
        await self.telegram.update_queue.put(update)
        self.set_status(HTTPStatus.OK)

    def log_exception(self, typ, value, tb) -> None:
        """HTTPErrors are logged above; anything else goes to our log."""
        if not isinstance(value, tornado.web.HTTPError):
            logger.error("webhook handler failed", exc_info=(typ, value, tb))


def make_webhook_app(application: Application, secret: str, path: str) -> tornado.web.Application:
    """The tornado application serving `path`; an empty secret is refused (it would let anyone in)."""
    if not SECRET_PATTERN.match(secret or ""):
        raise SettingsError("the webhook needs a secret token (TELEGRAM_WEBHOOK_SECRET)")
    return tornado.web.Application([(rf"{re.escape(path.rstrip('/'))}/?", UpdateHandler,
                                     {"telegram": application, "secret": secret})],
                                   log_function=lambda handler: None)


async def serve_webhook(application: Application, settings: Settings, stop: asyncio.Event) -> None:
    """Register the webhook with Telegram and serve updates until `stop` is set."""
    if problem := webhook_problem(settings):
        raise SettingsError(problem)
    path = urlparse(settings.telegram_webhook_url).path or "/"
    async with application:
        await application.post_init(application)
        await application.start()
        server = tornado.httpserver.HTTPServer(make_webhook_app(application, settings.telegram_webhook_secret, path))
        server.listen(settings.telegram_webhook_port, address=settings.telegram_webhook_listen)
        # Registered only once we listen, so Telegram's first delivery finds us.
        await application.bot.set_webhook(settings.telegram_webhook_url, secret_token=settings.telegram_webhook_secret,
                                          allowed_updates=Update.ALL_TYPES)
        logger.info("webhook listening on %s:%s%s", settings.telegram_webhook_listen, settings.telegram_webhook_port,
                    path)
        try:
            await stop.wait()
        finally:
            server.stop()
            await application.stop()
            await application.post_stop(application)
    await application.post_shutdown(application)


def run_webhook(application: Application, settings: Settings) -> None:
    """Serve the webhook until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_webhook(application, settings, stop)

    asyncio.run(main())
