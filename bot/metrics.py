"""What the bot counts (core/metrics.py defines the series): updates by kind, and every Bot API
call by method and outcome, with the retry-after of each 429, measured where python-telegram-bot
sends requests (a BaseRequest that wraps the real one)."""

from __future__ import annotations

import json

from telegram import Update
from telegram.ext import ContextTypes
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from core.metrics import BOT_API_CALLS, BOT_RETRY_AFTER, BOT_UPDATES


def update_kind(update: object) -> str:
    """command, photo, document, text, sticker, other message, callback_query, pre_checkout_query,
    successful_payment, or the name of the update's field."""
    if not isinstance(update, Update):
        return "unknown"
    message = update.message or update.edited_message
    if message is not None:
        if message.successful_payment:
            return "successful_payment"
        if message.photo:
            return "photo"
        if message.document:
            return "document"
        if message.text:
            return "command" if message.text.startswith("/") else "text"
        return "other_message"
    for kind in ("callback_query", "pre_checkout_query", "inline_query", "my_chat_member"):
        if getattr(update, kind, None) is not None:
            return kind
    return "other"


async def count_update(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A handler of group -1 (before every other): counts, and lets the update go on."""
    BOT_UPDATES.labels(update_kind(update)).inc()


class CountingRequest(BaseRequest):
    """The real request (HTTPXRequest, or a test's) with each call counted."""

    def __init__(self, inner: BaseRequest):
        self.inner = inner

    @classmethod
    def default(cls, *, get_updates: bool) -> CountingRequest:
        # python-telegram-bot's own defaults (ApplicationBuilder): 1 connection for getUpdates, 256 else.
        return cls(HTTPXRequest(connection_pool_size=1 if get_updates else 256))

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout=BaseRequest.DEFAULT_NONE, write_timeout=BaseRequest.DEFAULT_NONE,
                         connect_timeout=BaseRequest.DEFAULT_NONE, pool_timeout=BaseRequest.DEFAULT_NONE,
                         ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1] or "unknown"
        if "/file/" in url:
            name = "file_download"
        try:
            status, payload = await self.inner.do_request(url, method, request_data, read_timeout=read_timeout,
                                                          write_timeout=write_timeout,
                                                          connect_timeout=connect_timeout, pool_timeout=pool_timeout)
        except Exception:
            BOT_API_CALLS.labels(name, "network").inc()
            raise
        if status == 429:
            BOT_API_CALLS.labels(name, "retry_after").inc()
            BOT_RETRY_AFTER.observe(_retry_after(payload))
        else:
            BOT_API_CALLS.labels(name, "ok" if 200 <= status < 300 else "error").inc()
        return status, payload


def _retry_after(payload: bytes) -> float:
    try:
        return float(json.loads(payload)["parameters"]["retry_after"])
    except (ValueError, KeyError, TypeError):
        return 0.0
