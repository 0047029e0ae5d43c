"""A loopback TCP proxy that a test puts between the code and a service, to make its faults.

The machine's PostgreSQL, Redis and RabbitMQ are shared and never stopped nor reconfigured by
a test: to lose a connection, a reply or a broker, point the code at a ``Proxy`` instead and
tell the proxy what to do. It forwards by default; ``blackhole()`` stops forwarding in both
directions while every socket stays open (the bytes wait, as on a network that stopped
answering, and go on after ``forward()``); ``on(pattern, ...)`` acts right after forwarding
the chunk of the client->server stream in which ``pattern`` is seen (the count-th time):
``"cut"`` closes that connection on both sides (the server got the bytes, the client never
gets the reply), ``"blackhole"`` black-holes the proxy.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType
from typing import Literal

__all__ = ["Proxy"]

Action = Literal["cut", "blackhole"]


class Proxy:
    """Forward connections from ``127.0.0.1:self.port`` to ``host:port``, under the test's say."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._links: list[tuple[socket.socket, socket.socket]] = []
        self._watch: tuple[bytes, int, Action] | None = None
        #: Set once the watched pattern was seen and acted on.
        self.triggered = threading.Event()
        #: Connections accepted so far.
        self.accepted = 0
        self._closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def on(self, pattern: bytes, action: Action, count: int = 1) -> None:
        """Act (``"cut"`` or ``"blackhole"``) right after forwarding the count-th ``pattern``."""
        with self._lock:
            self._watch = (pattern, count, action)
            self.triggered.clear()

    def blackhole(self) -> None:
        """Stop forwarding, both ways and on new connections; keep every socket open."""
        self._flowing.clear()

    def forward(self) -> None:
        """Forward again, what waited first."""
        self._flowing.set()

    def cut(self) -> None:
        """Close every connection made so far, on both sides."""
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            _close(link)

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._closed = True
        self._flowing.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._flowing.wait()  # a black hole answers no new connection either
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            link = (client, server)
            with self._lock:
                self._links.append(link)
                self.accepted += 1
            for source, sink, upstream in ((client, server, True), (server, client, False)):
                threading.Thread(
                    target=self._pump, args=(link, source, sink, upstream), daemon=True
                ).start()

    def _pump(
        self,
        link: tuple[socket.socket, socket.socket],
        source: socket.socket,
        sink: socket.socket,
        upstream: bool,
    ) -> None:
        tail = b""
        while True:
            self._flowing.wait()  # black-holed: the bytes stay in the kernel's buffers
            try:
                readable, _, _ = select.select([source], [], [], 0.05)
            except (OSError, ValueError):  # closed under us
                return
            if not readable or not self._flowing.is_set():
                continue
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close(link)
                return
            action = None
            if upstream:
                # A pattern may straddle two chunks: look at the end of the last one too.
                seen = tail + data
                action, keep = self._seen(seen)
                tail = seen[len(seen) - keep :]
            try:
                sink.sendall(data)
            except OSError:
                _close(link)
                return
            if action == "cut":
                _close(link)
                self.triggered.set()
                return
            if action == "blackhole":
                self.blackhole()
                self.triggered.set()

    def _seen(self, data: bytes) -> tuple[Action | None, int]:
        """Count the watched pattern in ``data``; return the action if its count is reached,
        and how many bytes of ``data`` to look at again with the next chunk (fewer than the
        pattern's, so that no occurrence is counted twice)."""
        with self._lock:
            if self._watch is None:
                return None, 0
            pattern, count, action = self._watch
            count -= data.count(pattern)
            if count > 0:
                self._watch = (pattern, count, action)
                return None, min(len(data), len(pattern) - 1)
            self._watch = None
            return action, 0


def _close(link: tuple[socket.socket, socket.socket]) -> None:
    for sock in link:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
