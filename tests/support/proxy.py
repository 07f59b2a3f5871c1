"""A TCP relay between a test and a real service, to cut its connections on purpose or to play
a service that is down for a while."""

from __future__ import annotations

import socket
import struct
import threading
from urllib.parse import urlsplit, urlunsplit


def closed_port() -> int:
    """A loopback port nobody listens on (connecting to it is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_port(url: str, port: int) -> str:
    """`url` with its host:port made 127.0.0.1:`port` (its user and password kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"))


class Proxy:
    """A TCP relay to a service whose connections the test can cut, as a network failure would;
    with `limit`, each connection is cut after that many bytes from the client (an upload that
    dies on the way). `refuse()` plays the service going down (every connection reset, new ones
    too) until `restore()`."""

    def __init__(self, target: tuple[str, int], limit: int | None = None):
        self.target, self.limit = target, limit
        self.connections = 0
        self.refusing, self.refused = False, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.refusing:
                self.refused += 1
                # SO_LINGER 0: close() resets the connection, as a host whose server is gone answers.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
                self.connections += 1
            for source, sink, limit in ((client, upstream, self.limit), (upstream, client, None)):
                threading.Thread(target=self._pump, args=(source, sink, limit), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while (limit is None or sent < limit) and (data := source.recv(65536)):
                sink.sendall(data if limit is None else data[: limit - sent])
                sent += len(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Drop every relayed connection at once."""
        with self.lock:
            cut, self.sockets = self.sockets, []
        for end in cut:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def refuse(self) -> None:
        """The service goes down: every relayed connection is cut, and each new one is reset as
        soon as it arrives (counted in `refused`), until `restore()`."""
        self.refusing = True
        self.cut()

    def restore(self) -> None:
        """The service is back: new connections are relayed again."""
        self.refusing = False

    def close(self) -> None:
        self.server.close()
        self.cut()
