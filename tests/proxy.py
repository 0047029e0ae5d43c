"""A loopback TCP proxy that a test puts between the code and a service, to make its faults.

The machine's PostgreSQL, Redis and RabbitMQ are shared and never stopped nor reconfigured by
a test: to lose a connection, a reply or a broker, point the code at a ``Proxy`` instead and
tell the proxy what to do. It forwards by default; ``blackhole()`` stops forwarding in both
directions while every socket stays open (the bytes wait, as on a network that stopped
answering, and go on after ``forward()``); ``on(pattern, ...)`` acts right after forwarding
the chunk of the client->server stream in which ``pattern`` is seen (the count-th time):
``"cut"`` closes that connection on both sides once the server answers (the server got the
bytes and acted, the client never gets the reply), ``"blackhole"`` black-holes the proxy.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from types import TracebackType
from typing import Literal

__all__ = ["Proxy"]

Action = Literal["cut", "blackhole"]
#: Seconds a cut waits for the server's replies to stop before it cuts the client anyway,
#: and how long they must have stopped for.
CUT_WAIT, QUIET = 2.0, 0.1


class Proxy:
    """Forward connections from ``127.0.0.1:self.port`` to ``host:port``, under the test's say."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._links: list[_Link] = []
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
            link.close()

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
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
                self.accepted += 1
            for upstream in (True, False):
                threading.Thread(target=self._pump, args=(link, upstream), daemon=True).start()

    def _pump(self, link: _Link, upstream: bool) -> None:
        source, sink = (link.client, link.server) if upstream else (link.server, link.client)
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
                link.close()
                return
            if link.cutting:
                # The server's replies to what was sent before the cut: nobody gets them.
                link.replied = time.monotonic()
                continue
            action = None
            if upstream:
                # A pattern may straddle two chunks: look at the end of the last one too.
                seen = tail + data
                action, keep = self._seen(seen)
                tail = seen[len(seen) - keep :]
            if action == "cut":
                # From now on nothing goes back to the client, and nothing more to the server.
                link.cutting = True
                threading.Thread(target=self._cut, args=(link,), daemon=True).start()
            elif action == "blackhole":
                # Before this chunk goes: not even its reply may come back.
                self.blackhole()
            try:
                sink.sendall(data)
            except OSError:
                link.close()
                return
            if action == "cut":
                return
            if action == "blackhole":
                self.triggered.set()

    def _cut(self, link: _Link) -> None:
        """Cut ``link`` once the server has answered all it got (its replies stopped for
        ``QUIET`` s), or after ``CUT_WAIT`` s: the client learns of the cut only once the
        server has done its part."""
        deadline = time.monotonic() + CUT_WAIT
        while time.monotonic() < deadline:
            if link.replied is not None and time.monotonic() - link.replied >= QUIET:
                break
            time.sleep(0.01)
        self.triggered.set()  # before the client can see the cut
        link.cut()

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


class _Link:
    """One connection through the proxy: the client's socket and the server's."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.cutting = False
        #: When the server last replied after the cut began (monotonic).
        self.replied: float | None = None

    def cut(self) -> None:
        """Close the client's side; let the server read all it was sent, then close (once).

        The server's side is half-closed (a FIN after the bytes), never reset: a reset could
        drop bytes the server has not read yet, and the test wants them read.
        """
        self.cutting = True
        if self.client.fileno() == -1:
            return
        _close(self.client)
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_WR)
        # The other pump reads what the server still says, drops it, and closes at its EOF.

    def close(self) -> None:
        """Close both sides."""
        _close(self.client)
        _close(self.server)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
