"""Job events between processes: RabbitMQ when AMQP_URL is set, else an in-process queue.

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

from core.errors import QueueUnavailable
from core.settings import Settings

logger = logging.getLogger(__name__)

MESSAGE_VERSION = 1
Handler = Callable[[dict], None]


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
            try:
                handler(decode(body))
            except Reject as exc:
                logger.error("dead-lettered a message from %s: %s", queue_name, exc)
                self.dead_letters.append(body)
            except Exception:
                logger.exception("handler failed; the message goes back to %s", queue_name)
                q.put(body)
                stop.wait(0.5)  # not a busy loop on a message that keeps failing

    def depth(self, queue_name: str) -> int:
        return self._queue(queue_name).qsize()


def open_queue(settings: Settings) -> JobQueue:
    """The configured back end: RabbitMQ when AMQP_URL is set, else in-process."""
    if settings.amqp_url:
        raise QueueUnavailable("the RabbitMQ back end is not built yet")
    return MemoryQueue(settings)
