"""A loopback TCP proxy that a test controls, to fault a connection without touching the server.

    with TcpProxy(("127.0.0.1", 5432)) as proxy:   # point the code at 127.0.0.1:proxy.port
        ...
        proxy.black_hole()   # from now on nothing passes either way; the sockets stay open

A black hole is what a dead network path or a frozen server looks like: the client's sends
succeed, no answer and no error ever come. The shared services are never stopped or touched.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType

__all__ = ["TcpProxy"]


class TcpProxy:
    """Forward every connection made to ``127.0.0.1:port`` to ``upstream``, until told not to."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        #: The port the code under test connects to.
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[socket.socket, socket.socket | None] = {}
        self._lock = threading.Lock()
        self._holing = False
        self._swallowed: dict[socket.socket, int] = {}  # client socket -> bytes dropped
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="tcp-proxy", daemon=True)
        self._thread.start()

    def black_hole(self) -> None:
        """Stop forwarding, both ways and for new connections; keep every socket open."""
        with self._lock:
            self._holing = True

    def stalled(self) -> int:
        """Return how many client connections sent bytes into the black hole: each now waits."""
        with self._lock:
            return sum(1 for count in self._swallowed.values() if count)

    def close(self) -> None:
        """Stop the proxy and close every socket (the clients then see their connection end)."""
        self._closing = True
        self._thread.join(5)
        for sock in [*self._peers, self._listener]:
            with contextlib.suppress(OSError):
                sock.close()
        self._selector.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._closing:
            for key, _ in self._selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                else:
                    self._forward(sock)

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError):
            client, _ = self._listener.accept()
            upstream = None
            if not self._holing:  # a connection made into the black hole reaches nothing
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.setblocking(True)
                self._peers[upstream] = client
                self._selector.register(upstream, selectors.EVENT_READ)
            client.setblocking(True)
            self._peers[client] = upstream
            with self._lock:
                self._swallowed[client] = 0
            self._selector.register(client, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        peer = self._peers.get(sock)
        if not data:  # one side closed: close the other
            for each in (sock, peer):
                if each is not None and each in self._peers:
                    self._selector.unregister(each)
                    del self._peers[each]
                    each.close()
            return
        with self._lock:
            if self._holing:
                if sock in self._swallowed:
                    self._swallowed[sock] += len(data)
                return  # read and dropped: the sender waits for an answer that never comes
        if peer is not None:
            peer.sendall(data)
