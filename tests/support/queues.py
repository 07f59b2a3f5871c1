"""Queue consumers run on threads for a test, and a local port nothing listens on."""

from __future__ import annotations

import socket
import threading


def closed_port() -> int:
    """A local port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Consumers:
    """Runs `queue.consume` on threads; everything is stopped and joined at the end of the test."""

    def __init__(self):
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, queue, queue_name: str, handler) -> None:
        thread = threading.Thread(target=queue.consume, args=(queue_name, handler, self.stop), daemon=True)
        thread.start()
        self.threads.append(thread)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)
            assert not thread.is_alive(), "a consumer did not stop"


def publish_raw(queue, queue_name: str, body: bytes) -> None:
    """Put arbitrary bytes (a poison message, say) on a queue of either back end."""
    from core.queue import MemoryQueue

    if isinstance(queue, MemoryQueue):
        queue._put(queue_name, body)
        return
    with _channel(queue.url) as channel:
        queue.declare(channel)  # as the queue's own publisher would
        channel.confirm_delivery()
        channel.basic_publish("", queue_name, body, mandatory=True)


def delete_topology(settings) -> None:
    """Delete a queue set (with its messages): the queues, the dead-letter exchange and the delay
    queues of retries; a running service never does this."""
    from core.queue.rabbit import DELAY_STEPS

    with _channel(settings.amqp_url) as channel:
        for name in (settings.input_queue, settings.result_queue, settings.dead_letter_queue):
            channel.queue_delete(name)
        channel.exchange_delete(f"{settings.dead_letter_queue}.exchange")
        channel.exchange_delete(f"{settings.input_queue}.finished")
        for step in DELAY_STEPS:
            name = f"{settings.dead_letter_queue}.delay.{step}s"
            channel.queue_delete(name)
            channel.exchange_delete(name)


class _channel:
    """A channel on a connection of its own, closed at the end."""

    def __init__(self, url: str):
        self.url = url

    def __enter__(self):
        import pika

        self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        return self.connection.channel()

    def __exit__(self, *exc) -> None:
        self.connection.close()
