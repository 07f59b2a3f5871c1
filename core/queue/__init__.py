"""Job events between processes: RabbitMQ (core.queue.rabbit) when AMQP_URL is set, else the
in-process queue (core.queue.memory), both behind the interface of core.queue.base."""

from __future__ import annotations

from core.queue.base import Handler, JobQueue, Reject, RetryLater, decode, encode
from core.queue.memory import MemoryQueue
from core.settings import Settings

__all__ = ["Handler", "JobQueue", "MemoryQueue", "Reject", "RetryLater", "decode", "encode", "open_queue"]


def open_queue(settings: Settings) -> JobQueue:
    """The configured back end: RabbitMQ when AMQP_URL is set, else in-process (connects lazily)."""
    if settings.amqp_url:
        from core.queue.rabbit import RabbitQueue  # pika is imported by that module alone

        return RabbitQueue(settings)
    return MemoryQueue(settings)
