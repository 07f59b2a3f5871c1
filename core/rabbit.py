"""The RabbitMQ back end of core.queue; the one module that imports pika.

Topology (declared by every connection, idempotently): durable INPUT_QUEUE and RESULT_QUEUE whose
rejected messages go through the direct exchange "<DEAD_LETTER_QUEUE>.exchange" to the durable
DEAD_LETTER_QUEUE. Messages are persistent and published with confirms.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from urllib.parse import unquote, urlparse

import pika
import pika.exceptions

from core.errors import QueueUnavailable
from core.queue import ACK, REQUEUE, REQUEUE_DELAY_SECONDS, Handler, JobQueue, encode, run_handler
from core.settings import Settings

logger = logging.getLogger(__name__)

# Anything pika or the socket raises when the broker cannot be reached or drops us.
BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)
PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json")


class RabbitQueue(JobQueue):
    """RabbitMQ: durable queues, persistent messages, publisher confirms, a dead-letter queue.

    Publishing shares one confirmed channel behind a lock (any thread may publish); each
    `consume` call opens its own connection, as pika connections belong to one thread.
    """

    RECONNECT_MAX_DELAY = 30.0
    CONNECT_TIMEOUT = 5.0
    # A broker that blocks publishers (memory or disk alarm) fails a publish after this long
    # instead of hanging the caller.
    BLOCKED_TIMEOUT = 30.0

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.url = settings.amqp_url
        self.heartbeat = settings.amqp_heartbeat
        self.dead_letter_exchange = f"{settings.dead_letter_queue}.exchange"
        self._lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel = None

    @property
    def where(self) -> str:
        """host:port/vhost of the broker, without credentials (for messages and logs)."""
        parsed = urlparse(self.url)
        vhost = unquote(parsed.path[1:]) if len(parsed.path) > 1 else "/"
        port = parsed.port or (5671 if parsed.scheme == "amqps" else 5672)
        return f"{parsed.hostname}:{port} vhost {vhost}"

    def connect(self, role: str = "publisher") -> pika.BlockingConnection:
        """A new connection; raise QueueUnavailable when the broker cannot be reached."""
        parameters = pika.URLParameters(self.url)
        parameters.heartbeat = self.heartbeat
        parameters.connection_attempts = 1
        parameters.socket_timeout = self.CONNECT_TIMEOUT
        parameters.blocked_connection_timeout = self.BLOCKED_TIMEOUT
        parameters.client_properties = {"connection_name": f"cutout {role} pid {os.getpid()}"}
        try:
            return pika.BlockingConnection(parameters)
        except BROKER_ERRORS as exc:
            raise QueueUnavailable(f"cannot reach RabbitMQ at {self.where}: {_describe(exc)}") from exc

    def declare(self, channel) -> None:
        """Declare the topology; the same names and arguments every time, so it is idempotent."""
        dead_letter = {"x-dead-letter-exchange": self.dead_letter_exchange,
                       "x-dead-letter-routing-key": self.dead_letter_queue}
        try:
            channel.exchange_declare(self.dead_letter_exchange, exchange_type="direct", durable=True)
            channel.queue_declare(self.dead_letter_queue, durable=True)
            channel.queue_bind(self.dead_letter_queue, self.dead_letter_exchange, routing_key=self.dead_letter_queue)
            for name in (self.input_queue, self.result_queue):
                channel.queue_declare(name, durable=True, arguments=dead_letter)
        except pika.exceptions.ChannelClosedByBroker as exc:
            # 406: a queue of that name exists with other arguments (say, no dead-letter exchange).
            raise QueueUnavailable(f"RabbitMQ refused the queue topology ({exc.reply_code} {exc.reply_text}); "
                                   "delete the old queues or choose other queue names") from exc

    def publish(self, queue_name: str, job_id: str) -> None:
        self.publish_raw(queue_name, encode(job_id))

    def publish_raw(self, queue_name: str, body: bytes) -> None:
        """Publish persistently and wait for the broker's confirm; raise QueueUnavailable otherwise."""

        def publish(channel) -> None:
            try:
                channel.basic_publish("", queue_name, body, properties=PERSISTENT, mandatory=True)
            except pika.exceptions.UnroutableError as exc:
                raise QueueUnavailable(f"RabbitMQ has no queue {queue_name!r} to route the message to") from exc
            except pika.exceptions.NackError:
                raise QueueUnavailable(f"RabbitMQ refused the message for {queue_name!r} (nack)") from None

        try:
            self._with_publisher(publish)
        except QueueUnavailable as exc:
            ours = queue_name in (self.input_queue, self.result_queue)
            if not (ours and isinstance(exc.__cause__, pika.exceptions.UnroutableError)):
                raise
            # One of our queues was deleted under us: a new publisher connection declares it again.
            logger.warning("queue %s was missing; declaring it again", queue_name)
            self.close()
            self._with_publisher(publish)

    def depth(self, queue_name: str) -> int:
        """Messages ready in a queue (a passive declare); 0 for a queue that does not exist."""

        def depth(channel) -> int:
            probe = channel.connection.channel()  # a 404 closes the channel it happens on
            try:
                return probe.queue_declare(queue_name, passive=True).method.message_count
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code == 404:
                    return 0
                raise QueueUnavailable(f"RabbitMQ: {exc.reply_text}") from exc
            finally:
                if probe.is_open:
                    probe.close()

        return self._with_publisher(depth)

    def ping(self) -> bool:
        try:
            return self._with_publisher(lambda channel: True)
        except QueueUnavailable as exc:
            logger.warning("RabbitMQ ping failed: %s", exc)
            return False

    def _with_publisher(self, action: Callable):
        """Run `action(channel)` on the shared confirmed channel under the lock; on a dropped
        connection (most often an idle one the broker closed) try once more on a fresh one."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    return action(self._publisher())
                except BROKER_ERRORS as exc:
                    self._drop_publisher()
                    if attempt == 2:
                        raise QueueUnavailable(f"RabbitMQ at {self.where} failed: {_describe(exc)}") from exc
                    logger.info("RabbitMQ publisher connection lost (%s); reconnecting", _describe(exc))

    def _publisher(self):
        """The confirmed publishing channel, (re)opened as needed; call with the lock held."""
        if self._connection is not None and self._connection.is_open and self._channel.is_open:
            self._connection.process_data_events(0)  # answer heartbeats, notice a close
            return self._channel
        self._drop_publisher()
        connection = self.connect()
        try:
            channel = connection.channel()
            self.declare(channel)
            channel.confirm_delivery()
        except BaseException:
            _close_quietly(connection)
            raise
        self._connection, self._channel = connection, channel
        return channel

    def _drop_publisher(self) -> None:
        if self._connection is not None:
            _close_quietly(self._connection)
        self._connection = self._channel = None

    def close(self) -> None:
        with self._lock:
            self._drop_publisher()

    def delete_topology(self) -> None:
        """Delete this set's queues (with their messages) and dead-letter exchange: for tests and
        for retiring a queue set; never called by a running service."""
        self.close()
        connection = self.connect()
        try:
            channel = connection.channel()
            for name in (self.input_queue, self.result_queue, self.dead_letter_queue):
                channel.queue_delete(name)
            channel.exchange_delete(self.dead_letter_exchange)
        finally:
            _close_quietly(connection)

    def consume(self, queue_name: str, handler: Handler, stop: threading.Event) -> None:
        """Consume on a connection of this thread's own; reconnect with a growing delay until `stop`."""
        # One long-lived handler thread per consumer: the handler's thread-local resources
        # (a database connection) are reused rather than left behind by a thread per message.
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{threading.current_thread().name}-job")
        delay = 1.0
        try:
            while not stop.is_set():
                consumer = _Consumer(self, queue_name, handler, stop, executor)
                try:
                    consumer.run()
                except (QueueUnavailable, *BROKER_ERRORS) as exc:
                    if consumer.connected:
                        delay = 1.0
                    if stop.is_set():
                        break
                    logger.warning("consumer of %s lost RabbitMQ (%s); reconnecting in %.0f s",
                                   queue_name, _describe(exc), delay)
                    stop.wait(delay)
                    delay = min(delay * 2, self.RECONNECT_MAX_DELAY)
        finally:
            executor.shutdown(wait=True)


class _Consumer:
    """One connection consuming one queue. The handler runs on another thread and its ack comes
    back through `add_callback_threadsafe`, so this thread keeps answering heartbeats however
    long the handler takes."""

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

    def run(self) -> None:
        """Consume until `stop`, then finish (and ack) the message in hand; raise on a lost connection."""
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
            channel.basic_cancel(tag)  # no new deliveries; the one in hand is finished and acked
            while self._busy.is_set():
                self.connection.process_data_events(time_limit=self.POLL_SECONDS)
        finally:
            if self._running is not None:
                wait([self._running])  # never two handlers of one consumer at once
            _close_quietly(self.connection)

    def _on_message(self, channel, method, properties, body: bytes) -> None:
        if method.redelivered:
            logger.info("redelivered message from %s: %r", self.queue_name, body[:200])
        self._busy.set()
        self._running = self.executor.submit(self._handle, channel, method.delivery_tag, body)

    def _on_cancel(self, frame) -> None:
        self._cancelled = True

    def _handle(self, channel, delivery_tag: int, body: bytes) -> None:
        outcome = run_handler(self.handler, body, self.queue_name)
        if outcome == REQUEUE:
            self.stop.wait(REQUEUE_DELAY_SECONDS)
        try:
            self.connection.add_callback_threadsafe(functools.partial(self._settle, channel, delivery_tag, outcome))
        except BROKER_ERRORS:
            logger.warning("the connection closed before a message of %s was settled; RabbitMQ delivers it again",
                           self.queue_name)
            self._busy.clear()

    def _settle(self, channel, delivery_tag: int, outcome: str) -> None:
        """Ack or nack on the connection's own thread."""
        try:
            if outcome == ACK:
                channel.basic_ack(delivery_tag)
            else:
                channel.basic_nack(delivery_tag, requeue=outcome == REQUEUE)
        finally:
            self._busy.clear()


def _describe(exc: BaseException) -> str:
    """A readable reason; some pika errors have an empty str()."""
    text = str(exc).strip() or "; ".join(repr(arg) for arg in exc.args)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _close_quietly(connection) -> None:
    try:
        if connection is not None and connection.is_open:
            connection.close()
    except BROKER_ERRORS:
        pass  # already gone; nothing left to release
