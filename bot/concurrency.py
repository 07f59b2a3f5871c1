"""Updates of different people run concurrently; the updates of one person run in the order they came."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """A slow download for one person never holds up another; one person's /start still precedes their photo.

    PTB's semaphore (`max_concurrent_updates`) only bounds the updates in hand; `running` bounds how
    many handlers actually run, so updates queued behind their own chat do not take running slots.
    """

    def __init__(self, max_concurrent_updates: int = 256, running: int = 32):
        super().__init__(max_concurrent_updates)
        self._running = asyncio.BoundedSemaphore(running)
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the earlier updates of the same chat, then for a running slot, then run."""
        key = _chat_key(update)
        if key is None:
            async with self._running:
                await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._holders[key] = self._holders.get(key, 0) + 1
        try:
            async with lock, self._running:
                await coroutine
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:  # the last one out forgets the chat, so the maps stay small
                del self._holders[key], self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def _chat_key(update: object) -> int | None:
    # A pre-checkout query changes nothing and must be answered within 10 seconds, so it does
    # not queue behind the person's photo downloads or a payment being credited.
    if not isinstance(update, Update) or update.pre_checkout_query is not None:
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id if update.effective_chat is not None else None
