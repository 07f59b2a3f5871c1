"""The RabbitMQ back end of core.queue; the one module that imports pika.

Topology, declared idempotently: durable INPUT_QUEUE and RESULT_QUEUE whose dead letters go
through the direct exchange "<DEAD_LETTER_QUEUE>.exchange" to the durable DEAD_LETTER_QUEUE; for
retries, one delay queue per step, "<DEAD_LETTER_QUEUE>.delay.<N>s" (a queue-wide TTL, so no
message waits behind a longer one), whose expired messages go back to the queue they came from.
Messages are persistent and published with confirms, so a retry survives a restart.

Publishing never holds a caller up for long: each thread publishes on a connection of its own
(nobody waits on a lock behind a blocked publish), a broker that blocks publishers (a memory or
disk alarm) fails the publish after PUBLISH_TIMEOUT, and after a failure publishes fail at once
for BACKOFF_SECONDS instead of each waiting on a sick broker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from urllib.parse import unquote, urlparse

import pika
import pika.exceptions

from core.errors import QueueUnavailable
from core.queue.base import Handler, JobQueue, Reject, decode, encode
from core.queue.consumer import Consumer
from core.settings import Settings

logger = logging.getLogger(__name__)

# Anything pika or the socket raises when the broker cannot be reached or drops us.
BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)
PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json")
DELAY_STEPS = (1, 2, 5, 10, 30, 60, 120, 300)
PROBE_ROUTING_KEY = "cutout.health.probe"  # routed nowhere: a probe publish is dropped


class RabbitQueue(JobQueue):
    """RabbitMQ: durable queues, persistent messages, publisher confirms, a dead-letter queue, and
    delay queues for retries. Any thread may publish; each `consume` call has its own connection."""

    RECONNECT_MAX_DELAY = 30.0
    CONSUMER_CONNECT_TIMEOUT = 5.0
    PUBLISH_TIMEOUT = 1.0
    BACKOFF_SECONDS = 5.0
    PROBE_SECONDS = 0.3

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.url = settings.amqp_url
        self.heartbeat = settings.amqp_heartbeat
        self.dead_letter_exchange = f"{settings.dead_letter_queue}.exchange"
        self.finished_exchange = f"{settings.input_queue}.finished"  # fanout: every waiting process
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: set = set()
        self._down_until, self._down_state = 0.0, "ok"

    @property
    def where(self) -> str:
        """host:port/vhost of the broker, without credentials (for messages and logs)."""
        parsed = urlparse(self.url)
        vhost = unquote(parsed.path[1:]) if len(parsed.path) > 1 else "/"
        port = parsed.port or (5671 if parsed.scheme == "amqps" else 5672)
        return f"{parsed.hostname}:{port} vhost {vhost}"

    def connect(self, role: str = "publisher") -> pika.BlockingConnection:
        """A new connection; raise QueueUnavailable when the broker cannot be reached. Publishers
        get short timeouts (connect, handshake, blocked); consumers wait longer to connect."""
        parameters = pika.URLParameters(self.url)
        parameters.heartbeat = self.heartbeat
        parameters.connection_attempts = 1
        quick = not role.startswith("consumer")
        parameters.socket_timeout = self.PUBLISH_TIMEOUT if quick else self.CONSUMER_CONNECT_TIMEOUT
        parameters.stack_timeout = 2 * parameters.socket_timeout
        parameters.blocked_connection_timeout = self.PUBLISH_TIMEOUT
        parameters.client_properties = {"connection_name": f"cutout {role} pid {os.getpid()}"}
        try:
            return pika.BlockingConnection(parameters)
        except BROKER_ERRORS as exc:
            raise QueueUnavailable(f"cannot reach RabbitMQ at {self.where}: {describe(exc)}") from exc

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
            channel.exchange_declare(self.finished_exchange, exchange_type="fanout", durable=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            # 406: a queue of that name exists with other arguments (say, no dead-letter exchange).
            raise QueueUnavailable(f"RabbitMQ refused the queue topology ({exc.reply_code} {exc.reply_text}); "
                                   "delete the old queues or choose other queue names") from exc

    def delay_queue(self, delay: float) -> tuple[str, int]:
        """The delay queue (and its exchange, of the same name) for a wait of `delay` seconds."""
        step = next((step for step in DELAY_STEPS if step >= delay), DELAY_STEPS[-1])
        return f"{self.dead_letter_queue}.delay.{step}s", step

    def publish(self, queue_name: str, job_id: str) -> None:
        self._publish("", queue_name, encode(job_id))

    def publish_finished(self, job_id: str) -> None:
        # Transient and not mandatory: with no process waiting, the event goes nowhere, as it should.
        self._with_publisher(lambda channel: channel.basic_publish(self.finished_exchange, "", encode(job_id)))

    def listen_finished(self, callback: Callable[[str], None], stop: threading.Event) -> None:
        """A queue of this process's own (exclusive, gone with the connection) bound to the fanout."""
        delay = 1.0
        while not stop.is_set():
            connection = None
            try:
                connection = self.connect("consumer-finished")
                channel = connection.channel()
                channel.exchange_declare(self.finished_exchange, exchange_type="fanout", durable=True)
                name = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
                channel.queue_bind(name, self.finished_exchange)
                channel.basic_consume(name, lambda _ch, _m, _p, body: _finished(callback, body), auto_ack=True)
                delay = 1.0
                while not stop.is_set():
                    connection.process_data_events(time_limit=0.5)
            except (QueueUnavailable, *BROKER_ERRORS) as exc:
                logger.warning("listener of finished jobs lost RabbitMQ (%s); reconnecting in %.0f s",
                               describe(exc), delay)
                stop.wait(delay)
                delay = min(delay * 2, self.RECONNECT_MAX_DELAY)
            finally:
                close_quietly(connection)

    def publish_later(self, queue_name: str, body: bytes, delay: float) -> None:
        name, step = self.delay_queue(delay)

        def declare(channel) -> None:
            channel.exchange_declare(name, exchange_type="fanout", durable=True)
            # No dead-letter routing key: an expired message keeps its own, the queue it came from.
            channel.queue_declare(name, durable=True, arguments={"x-message-ttl": step * 1000,
                                                                 "x-dead-letter-exchange": ""})
            channel.queue_bind(name, name)

        self._publish(name, queue_name, body, declare_first=(name, declare))

    def _publish(self, exchange: str, routing_key: str, body: bytes, declare_first=None) -> None:
        """Publish persistently and wait for the broker's confirm; raise QueueUnavailable otherwise."""

        def publish(channel) -> None:
            if declare_first and declare_first[0] not in self._local.declared:
                declare_first[1](channel)
                self._local.declared.add(declare_first[0])
            try:
                channel.basic_publish(exchange, routing_key, body, properties=PERSISTENT, mandatory=True)
            except pika.exceptions.UnroutableError as exc:
                raise QueueUnavailable(f"RabbitMQ has no queue {routing_key!r} to route the message to") from exc
            except pika.exceptions.NackError:
                raise QueueUnavailable(f"RabbitMQ refused the message for {routing_key!r} (nack)") from None

        try:
            self._with_publisher(publish)
        except QueueUnavailable as exc:
            ours = routing_key in (self.input_queue, self.result_queue)
            if not (ours and isinstance(exc.__cause__, pika.exceptions.UnroutableError)):
                raise
            # One of our queues was deleted under us: a new publisher connection declares it again.
            logger.warning("queue %s was missing; declaring it again", routing_key)
            self._drop_publisher()
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

    def state(self) -> str:
        """"ok", "blocked" (an alarm: the broker refuses publishes) or "unreachable", in well under
        a second: a probe message routed nowhere shows whether the broker blocks this connection."""
        if time.monotonic() < self._down_until:
            return self._down_state
        try:
            self._with_publisher(self._probe)
        except QueueUnavailable:
            return self._down_state if time.monotonic() < self._down_until else "unreachable"
        return "blocked" if getattr(self._local, "blocked", False) else "ok"

    def _probe(self, channel) -> None:
        connection = channel.connection
        if not self._local.blocked:
            self._local.probe.basic_publish("", PROBE_ROUTING_KEY, b"", properties=PERSISTENT)
            connection.process_data_events(time_limit=self.PROBE_SECONDS)

    def _with_publisher(self, action: Callable):
        """Run `action(channel)` on this thread's confirmed channel; on a dropped connection (most
        often an idle one the broker closed) try once more on a fresh one. A failure makes the next
        BACKOFF_SECONDS of publishes fail at once."""
        if time.monotonic() < self._down_until:
            raise QueueUnavailable(f"RabbitMQ at {self.where} is {self._down_state}; not trying again yet")
        for attempt in (1, 2):
            try:
                channel = self._publisher()
            except QueueUnavailable:  # cannot connect
                self._back_off("unreachable")
                raise
            try:
                return action(channel)
            except BROKER_ERRORS as exc:
                blocked = (getattr(self._local, "blocked", False)
                           or isinstance(exc, pika.exceptions.ConnectionBlockedTimeout))
                self._drop_publisher()
                if attempt == 2 or blocked:
                    self._back_off("blocked" if blocked else "unreachable")
                    raise QueueUnavailable(f"RabbitMQ at {self.where} failed: {describe(exc)}") from exc
                logger.info("RabbitMQ publisher connection lost (%s); reconnecting", describe(exc))

    def _back_off(self, state: str) -> None:
        self._down_until, self._down_state = time.monotonic() + self.BACKOFF_SECONDS, state
        logger.warning("RabbitMQ at %s is %s: publishes fail at once for %.0f s", self.where, state,
                       self.BACKOFF_SECONDS)

    def _publisher(self):
        """This thread's confirmed publishing channel, (re)opened as needed."""
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is not None and connection.is_open and local.channel.is_open:
            try:
                connection.process_data_events(0)  # answer heartbeats, notice a close or a block
                return local.channel
            except BROKER_ERRORS as exc:  # most often an idle connection the broker closed
                logger.info("RabbitMQ publisher connection lost (%s); reconnecting", describe(exc))
        self._drop_publisher()
        connection = self.connect()
        try:
            connection.add_on_connection_blocked_callback(lambda *_: setattr(local, "blocked", True))
            connection.add_on_connection_unblocked_callback(lambda *_: setattr(local, "blocked", False))
            channel = connection.channel()
            self.declare(channel)
            channel.confirm_delivery()
            local.probe = connection.channel()  # no confirms: the probe's message is dropped
        except BaseException:
            close_quietly(connection)
            raise
        local.connection, local.channel, local.declared, local.blocked = connection, channel, set(), False
        with self._lock:
            self._connections.add(connection)
        return channel

    def _drop_publisher(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            with self._lock:
                self._connections.discard(connection)
            close_quietly(connection)
        self._local.connection = self._local.channel = None
        self._local.blocked = False

    def close(self) -> None:
        """Close every thread's publisher connection (at the end of the process)."""
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            close_quietly(connection)
        self._local.connection = self._local.channel = None

    def consume(self, queue_name: str, handler: Handler, stop: threading.Event) -> None:
        """Consume on a connection of this thread's own; reconnect with a growing delay until `stop`."""
        delay = 1.0
        with Consumer.executor() as executor:
            while not stop.is_set():
                consumer = Consumer(self, queue_name, handler, stop, executor)
                try:
                    consumer.run()
                except (QueueUnavailable, *BROKER_ERRORS) as exc:
                    if consumer.connected:
                        delay = 1.0
                    if stop.is_set():
                        break
                    logger.warning("consumer of %s lost RabbitMQ (%s); reconnecting in %.0f s",
                                   queue_name, describe(exc), delay)
                    stop.wait(delay)
                    delay = min(delay * 2, self.RECONNECT_MAX_DELAY)


def _finished(callback: Callable[[str], None], body: bytes) -> None:
    try:
        callback(decode(body)["job_id"])
    except Reject:
        logger.warning("ignored a malformed finished-job event: %r", body[:200])


def describe(exc: BaseException) -> str:
    """A readable reason; some pika errors have an empty str()."""
    text = str(exc).strip() or "; ".join(repr(arg) for arg in exc.args)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def close_quietly(connection) -> None:
    try:
        if connection is not None and connection.is_open:
            connection.close()
    except BROKER_ERRORS:
        pass  # already gone; nothing left to release
