"""Job events between processes: the queue interface, the in-process queue, and open_queue, which
picks RabbitMQ (core.rabbit) when AMQP_URL is set.

Messages carry ids only: {"job_id": "...", "v": 1}. A consumer's handler returns to ack,
raises Reject to dead-letter the message, and raises anything else to have it redelivered.
"""

from __future__ import annotations

import json
import logging
import queue as stdlib_queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

from core.settings import Settings

logger = logging.getLogger(__name__)

MESSAGE_VERSION = 1
Handler = Callable[[dict], None]

# What a handler's outcome asks of the broker.
ACK, REJECT, REQUEUE = "ack", "reject", "requeue"
# Pause before a message whose handler failed is offered again: no hot loop while, say, the
# database is down.
REQUEUE_DELAY_SECONDS = 0.5


class Reject(Exception):
    """Raised by a handler for a message that can never succeed (it goes to the dead-letter queue)."""


def encode(job_id: str) -> bytes:
    return json.dumps({"job_id": str(job_id), "v": MESSAGE_VERSION}).encode()


def decode(body: bytes) -> dict:
    """The message as a dict; raise Reject for anything that is not a v1 job event."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Reject("message is not JSON") from None
    if not isinstance(message, dict) or message.get("v") != MESSAGE_VERSION or not message.get("job_id"):
        raise Reject(f"not a v{MESSAGE_VERSION} job event: {body[:200]!r}")
    return message


def run_handler(handler: Handler, body: bytes, queue_name: str) -> str:
    """Call the handler on one message body; return ACK, REJECT (dead-letter) or REQUEUE."""
    try:
        handler(decode(body))
        return ACK
    except Reject as exc:
        logger.error("dead-lettered a message from %s: %s", queue_name, exc)
        return REJECT
    except Exception:
        logger.exception("handler failed; the message goes back to %s", queue_name)
        return REQUEUE


class JobQueue(ABC):
    """What every back end offers."""

    def __init__(self, settings: Settings):
        self.input_queue = settings.input_queue
        self.result_queue = settings.result_queue
        self.dead_letter_queue = settings.dead_letter_queue

    def publish_job(self, job_id: str) -> None:
        """Ask a worker to process the job; raise QueueUnavailable if that cannot be confirmed."""
        self.publish(self.input_queue, job_id)

    def publish_result(self, job_id: str) -> None:
        """Tell the deliverer that the job finished."""
        self.publish(self.result_queue, job_id)

    @abstractmethod
    def publish(self, queue_name: str, job_id: str) -> None: ...

    @abstractmethod
    def consume(self, queue_name: str, handler: Handler, stop: threading.Event) -> None:
        """Call `handler` for each message until `stop` is set (blocks)."""

    @abstractmethod
    def depth(self, queue_name: str) -> int:
        """Messages waiting in a queue."""

    def ping(self) -> bool:
        """True when the queue can be reached."""
        return True

    def close(self) -> None:  # noqa: B027 - most back ends hold nothing to release
        """Release connections."""


class MemoryQueue(JobQueue):
    """The embedded default: queues inside this process, shared by its threads."""

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self._queues: dict[str, stdlib_queue.Queue] = {}
        self._lock = threading.Lock()
        self.dead_letters: list[bytes] = []

    def _queue(self, name: str) -> stdlib_queue.Queue:
        with self._lock:
            return self._queues.setdefault(name, stdlib_queue.Queue())

    def publish(self, queue_name: str, job_id: str) -> None:
        self._queue(queue_name).put(encode(job_id))

    def publish_raw(self, queue_name: str, body: bytes) -> None:
        self._queue(queue_name).put(body)

    def consume(self, queue_name: str, handler: Handler, stop: threading.Event) -> None:
        q = self._queue(queue_name)
        while not stop.is_set():
            try:
                body = q.get(timeout=0.2)
            except stdlib_queue.Empty:
                continue
            outcome = run_handler(handler, body, queue_name)
            if outcome == REJECT:
                self.dead_letters.append(body)
            elif outcome == REQUEUE:
                stop.wait(REQUEUE_DELAY_SECONDS)
                q.put(body)

    def depth(self, queue_name: str) -> int:
        return self._queue(queue_name).qsize()


def open_queue(settings: Settings) -> JobQueue:
    """The configured back end: RabbitMQ when AMQP_URL is set, else in-process (connects lazily)."""
    if settings.amqp_url:
        from core.rabbit import RabbitQueue  # pika is imported by that module alone

        return RabbitQueue(settings)
    return MemoryQueue(settings)
