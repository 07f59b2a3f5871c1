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
