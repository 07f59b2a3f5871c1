"""One RabbitMQ connection consuming one queue (for core.queue.rabbit).

The handler runs on another thread and its ack comes back through `add_callback_threadsafe`, so
the connection's thread keeps answering heartbeats however long the handler takes. A message the
handler wants again later is published to a delay queue, then acked; if that publish fails it goes
back to its queue instead, so it is never lost.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

import pika
import pika.exceptions

from core.errors import QueueUnavailable
from core.queue.base import ACK, DEAD, LATER, Handler, run_handler

if TYPE_CHECKING:
    from core.queue.rabbit import RabbitQueue

logger = logging.getLogger(__name__)

REQUEUE = "requeue"
# Before a message whose retry could not be published goes back to its queue: no hot loop.
REQUEUE_DELAY_SECONDS = 0.5


class Consumer:
    """Consume until `stop`, then finish (and settle) the message in hand; raise on a lost connection."""

    POLL_SECONDS = 0.5

    def __init__(self, broker: RabbitQueue, queue_name: str, handler: Handler, stop: threading.Event,
                 executor: ThreadPoolExecutor):
        self.broker, self.queue_name, self.handler, self.stop = broker, queue_name, handler, stop
        self.executor = executor
        self.connected = False
        self.connection: pika.BlockingConnection | None = None
        self._busy = threading.Event()
        self._cancelled = False
        self._running: Future | None = None

    @staticmethod
    @contextlib.contextmanager
    def executor() -> Iterator[ThreadPoolExecutor]:
        """One long-lived handler thread per consuming thread: the handler's thread-local resources
        (a database connection, a publisher connection) are reused, not left behind per message."""
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{threading.current_thread().name}-job")
        try:
            yield pool
        finally:
            pool.shutdown(wait=True)

    def run(self) -> None:
        self.connection = self.broker.connect(role=f"consumer of {self.queue_name}")
        try:
            channel = self.connection.channel()
            self.broker.declare(channel)
            channel.basic_qos(prefetch_count=1)
            tag = channel.basic_consume(self.queue_name, self._on_message, auto_ack=False)
            channel.add_on_cancel_callback(self._on_cancel)
            self.connected = True
            logger.info("consuming %s on RabbitMQ at %s", self.queue_name, self.broker.where)
            while not self.stop.is_set():
                self.connection.process_data_events(time_limit=self.POLL_SECONDS)
                if self._cancelled and not self._busy.is_set():
                    # The broker dropped our consumer (the queue was deleted): start over, which
                    # declares the queue again.
                    raise pika.exceptions.ConsumerCancelled(f"RabbitMQ cancelled the consumer of {self.queue_name}")
            channel.basic_cancel(tag)  # no new deliveries; the one in hand is finished and settled
            while self._busy.is_set():
                self.connection.process_data_events(time_limit=self.POLL_SECONDS)
        finally:
            if self._running is not None:
                wait([self._running])  # never two handlers of one consumer at once
            if self.connection is not None and self.connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                    self.connection.close()

    def _on_message(self, channel, method, properties, body: bytes) -> None:
        if method.redelivered:
            logger.info("redelivered message from %s: %r", self.queue_name, body[:200])
        self._busy.set()
        self._running = self.executor.submit(self._handle, channel, method.delivery_tag, body, method.redelivered)

    def _on_cancel(self, frame) -> None:
        self._cancelled = True

    def _handle(self, channel, delivery_tag: int, body: bytes, redelivered: bool) -> None:
        outcome = run_handler(self.handler, body, self.queue_name, redelivered=redelivered)
        action = outcome.action
        if action == LATER:
            try:
                self.broker.publish_later(self.queue_name, outcome.body, outcome.delay)
                action = ACK  # the delayed copy is safely with the broker
            except QueueUnavailable as exc:
                logger.warning("cannot schedule the retry of a message of %s (%s); it goes back to the queue",
                               self.queue_name, exc)
                self.stop.wait(REQUEUE_DELAY_SECONDS)
                action = REQUEUE
        try:
            self.connection.add_callback_threadsafe(lambda: self._settle(channel, delivery_tag, action))
        except (pika.exceptions.AMQPError, OSError):
            logger.warning("the connection closed before a message of %s was settled; RabbitMQ delivers it again",
                           self.queue_name)
            self._busy.clear()

    def _settle(self, channel, delivery_tag: int, action: str) -> None:
        """Ack or nack on the connection's own thread."""
        try:
            if action == ACK:
                channel.basic_ack(delivery_tag)
            else:
                channel.basic_nack(delivery_tag, requeue=action != DEAD)
        finally:
            self._busy.clear()
