"""tests.proxy: the loopback TCP proxy the fault tests put in front of a service."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.proxy import Proxy
from tests.waiting import wait_until


class Service:
    """A server that records what it got and answers each chunk with ``ok:<chunk>``."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.got = bytearray()
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            while data := connection.recv(65536):
                self.got += data
                with contextlib.suppress(OSError):
                    connection.sendall(b"ok:" + data)
        self.closed.set()


@pytest.fixture
def service() -> Iterator[Service]:
    server = Service()
    yield server
    server.listener.close()


def connect(proxy: Proxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def test_it_forwards_both_ways(service: Service) -> None:
    with Proxy(service.port) as proxy, connect(proxy) as client:
        client.sendall(b"ping")
        assert client.recv(100) == b"ok:ping"
        assert service.got == b"ping"


def test_a_black_hole_holds_the_bytes_until_it_forwards_again(service: Service) -> None:
    with Proxy(service.port) as proxy, connect(proxy) as client:
        client.sendall(b"a")
        assert client.recv(100) == b"ok:a"
        proxy.blackhole()
        client.sendall(b"b")
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):
            client.recv(100)  # no answer while black-holed, and the socket stays open
        assert service.got == b"a"
        proxy.forward()
        client.settimeout(5)
        assert client.recv(100) == b"ok:b"


def test_a_cut_lets_the_server_act_and_loses_its_reply(service: Service) -> None:
    with Proxy(service.port) as proxy, connect(proxy) as client:
        proxy.on(b"COMMIT", "cut")
        client.sendall(b"COM")  # the pattern may come in two chunks
        assert client.recv(100) == b"ok:COM"
        client.sendall(b"MIT;")
        assert client.recv(100) == b""  # closed, without the reply
        assert proxy.triggered.is_set()
        assert service.closed.wait(5)
        assert service.got == b"COMMIT;"


def test_a_pattern_can_black_hole_after_its_nth_time(service: Service) -> None:
    with Proxy(service.port) as proxy, connect(proxy) as client:
        proxy.on(b"x", "blackhole", count=2)
        client.sendall(b"x1")
        assert client.recv(100) == b"ok:x1"
        client.sendall(b"x2")
        assert proxy.triggered.wait(5)
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):
            client.recv(100)
        wait_until(lambda: service.got == b"x1x2", "the chunk that matched to be forwarded")
