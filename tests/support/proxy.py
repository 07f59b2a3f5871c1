"""A TCP relay between a test and a real service, to cut its connections on purpose."""

from __future__ import annotations

import socket
import threading


class Proxy:
    """A TCP relay to a service whose connections the test can cut, as a network failure would;
    with `limit`, each connection is cut after that many bytes from the client (an upload that
    dies on the way)."""

    def __init__(self, target: tuple[str, int], limit: int | None = None):
        self.target, self.limit = target, limit
        self.connections = 0
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

    def close(self) -> None:
        self.server.close()
        self.cut()
