"""The tests' TCP proxy: it forwards; black-holed, it answers nothing and closes nothing."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.blackhole_proxy import TcpProxy
from tests.waiting import wait_until


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A server that sends back what it receives, on one connection."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()
    server.close()


def test_the_proxy_forwards_until_black_holed_then_keeps_the_connection_open(
    echo: tuple[str, int],
) -> None:
    with TcpProxy(echo) as proxy, socket.create_connection(("127.0.0.1", proxy.port), 5) as client:
        client.sendall(b"ping")
        assert client.recv(4) == b"ping"
        proxy.black_hole()
        client.sendall(b"lost")
        wait_until(lambda: proxy.stalled() == 1, "the bytes swallowed")
        client.settimeout(0.2)
        with pytest.raises(TimeoutError):  # neither an answer nor the connection's end
            client.recv(4)
