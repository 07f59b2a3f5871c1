"""The queue interface and its message codec, shared by the in-process and RabbitMQ back ends.

Messages carry ids only: {"job_id": "...", "v": 1}, plus, once retried, "attempt" (how many
times it was handled before) and "since" (epoch seconds of its first handling). A consumer's
handler returns to ack, raises Reject to dead-letter the message, and raises RetryLater to be
handed the message again later; any other exception is a RetryLater with a growing delay. Every
retry ends: a message past its attempts or its age (core.retries.UNEXPECTED_FAILURE, or what the
handler decides sooner) goes to the dead-letter queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from core.retries import UNEXPECTED_FAILURE
from core.settings import Settings

logger = logging.getLogger(__name__)

MESSAGE_VERSION = 1
Handler = Callable[[dict], None]

# What a handler's outcome asks of the back end.
ACK, DEAD, LATER = "ack", "dead", "later"


class Reject(Exception):
    """Raised by a handler for a message that can never succeed (it goes to the dead-letter queue)."""


class RetryLater(Exception):
    """Raised by a handler: hand this message back after `delay` seconds (counted as an attempt)."""

    def __init__(self, delay: float, reason: str = ""):
        super().__init__(reason or f"retry in {delay:.1f} s")
        self.delay = delay


@dataclass(frozen=True)
class Outcome:
    """What to do with a message: ACK, DEAD, or LATER (publish `body` again after `delay`)."""

    action: str
    delay: float = 0.0
    body: bytes = b""


def encode(job_id: str, attempt: int = 0, since: float | None = None) -> bytes:
    message: dict = {"job_id": str(job_id), "v": MESSAGE_VERSION}
    if attempt:
        message.update(attempt=attempt, since=since)
    return json.dumps(message).encode()


def decode(body: bytes) -> dict:
    """The message as a dict; raise Reject for anything that is not a v1 job event."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Reject("message is not JSON") from None
    if not isinstance(message, dict) or message.get("v") != MESSAGE_VERSION or not message.get("job_id"):
        raise Reject(f"not a v{MESSAGE_VERSION} job event: {body[:200]!r}")
    if not isinstance(message.get("attempt", 0), int) or not isinstance(message.get("since") or 0, int | float):
        raise Reject(f"a job event with a malformed attempt count: {body[:200]!r}")
    return message


def run_handler(handler: Handler, body: bytes, queue_name: str, redelivered: bool = False) -> Outcome:
    """Call the handler on one message body and say what becomes of the message. `redelivered`:
    the broker hands the message out again (its consumer died holding it)."""
    try:
        message = decode(body)
        handler({**message, "redelivered": True} if redelivered else message)
        return Outcome(ACK)
    except Reject as exc:
        logger.error("dead-lettered a message from %s: %s", queue_name, exc)
        return Outcome(DEAD)
    except RetryLater as exc:
        delay, reason = exc.delay, str(exc)
    except Exception as exc:
        logger.exception("handler failed on a message from %s", queue_name)
        delay, reason = UNEXPECTED_FAILURE.delay(message.get("attempt", 0) + 1), f"{type(exc).__name__}: {exc}"
    attempt, since = message.get("attempt", 0) + 1, message.get("since") or time.time()
    if UNEXPECTED_FAILURE.exhausted(attempt, since):
        logger.error("gave up on a message from %s after %d attempts (%s); dead-lettered", queue_name, attempt,
                     reason)
        return Outcome(DEAD)
    logger.info("a message from %s is retried in %.1f s (attempt %d): %s", queue_name, delay, attempt, reason)
    return Outcome(LATER, delay, encode(message["job_id"], attempt, since))


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
    def publish_finished(self, job_id: str) -> None:
        """Tell every process waiting for jobs (the panel's synchronous requests) that this one
        finished. Best effort, not persisted: the database stays the truth, and a waiter that
        misses the event reads it there (core.finished)."""

    @abstractmethod
    def listen_finished(self, callback: Callable[[str], None], stop: threading.Event) -> None:
        """Call `callback(job_id)` for every job finished from now on, until `stop` (blocks)."""

    @abstractmethod
    def publish_later(self, queue_name: str, body: bytes, delay: float) -> None:
        """Put a message on `queue_name` after `delay` seconds (a retry); raise QueueUnavailable."""

    @abstractmethod
    def consume(self, queue_name: str, handler: Handler, stop: threading.Event) -> None:
        """Call `handler` for each message until `stop` is set (blocks)."""

    @abstractmethod
    def depth(self, queue_name: str) -> int:
        """Messages waiting in a queue."""

    def state(self) -> str:
        """"ok", or why publishing would fail now: "blocked" (the broker refuses publishes: a
        memory or disk alarm) or "unreachable"."""
        return "ok"

    def ping(self) -> bool:
        """True when the queue can be reached and takes messages."""
        return self.state() == "ok"

    def close(self) -> None:  # noqa: B027 - most back ends hold nothing to release
        """Release connections."""
