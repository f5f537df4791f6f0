"""connect_timeout bounds the client's whole opening phase: a TLS handshake trickled byte by byte
(direct, or inside squid's TLS listener), half a TLS record of the 101, a TCP connect that is
never answered; a bad value is a ValueError before any I/O."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from faye_websocket.client import Client, connect
from faye_websocket.driver.http import HeadBuffer
from faye_websocket.net.transport import SocketTransport, TLSInTLS
from tests.integration.client_support import (
    TRICKLE_INTERVAL,
    WAIT,
    RecordingClient,
    raw_server,
    unanswering_port,
    wait_for_eof,
)
from tests.integration.components import ProxyServer, TLSCerts

# A TLS record header announcing a 16000-byte handshake record; its body then trickles in.
PARTIAL_RECORD_HEADER = b"\x16\x03\x03\x3e\x80"


def _trickle_after_client_hello(conn: socket.socket, stop: threading.Event) -> None:
    """Read the ClientHello, then send a partial TLS record one byte at a time until stopped."""
    conn.recv(65536)
    conn.sendall(PARTIAL_RECORD_HEADER)
    while not stop.wait(TRICKLE_INTERVAL):
        conn.sendall(b"\x00")


@pytest.fixture
def trickling_tls_server() -> Iterator[int]:
    """A server that accepts TCP, then stalls a TLS handshake by trickling one record forever."""
    stop = threading.Event()
    with raw_server(lambda conn: _trickle_after_client_hello(conn, stop)) as port:
        try:
            yield port
        finally:
            stop.set()


def test_a_tls_server_trickling_its_handshake_times_out_within_connect_timeout(
    no_leaks: None, trickling_tls_server: int
) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=f"TLS handshake with the origin 127.0.0.1:{trickling_tls_server}"):
        connect(f"wss://127.0.0.1:{trickling_tls_server}/", connect_timeout=0.5)
    assert time.monotonic() - started < 2.0


def test_a_tunnelled_tls_handshake_trickling_times_out_within_connect_timeout(
    squid_proxy: ProxyServer, no_leaks: None, tls_certs: TLSCerts, trickling_tls_server: int
) -> None:
    # Through squid's TLS listener the origin's TLS runs inside TLS (memory BIOs): each read of
    # the outer socket got a byte in time, but the handshake as a whole must not outlive the budget.
    proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    started = time.monotonic()
    with pytest.raises(
        TimeoutError, match=f"TLS handshake with the origin 127.0.0.1:{trickling_tls_server} in"
    ):
        connect(f"wss://127.0.0.1:{trickling_tls_server}/", proxy=proxy, connect_timeout=0.5)
    assert time.monotonic() - started < 2.0


def _tls_then_half_a_record(context: ssl.SSLContext) -> Callable[[socket.socket], None]:
    """A wss server that reads the request, then sends only the first bytes of its 101's record."""

    def handler(conn: socket.socket) -> None:
        tls = TLSInTLS(SocketTransport(conn), context, None, server_side=True)
        tls.handshake()
        buffer = HeadBuffer()
        while buffer.feed(tls.recv(65536)) is None:
            pass
        tls.ssl_object.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        conn.sendall(tls._outgoing.read()[:10])  # half a TLS record, and then nothing
        wait_for_eof(conn)

    return handler


@pytest.mark.parametrize("route", ["direct", "squid-tls"])
def test_half_a_tls_record_of_the_101_times_out_within_connect_timeout(
    squid_proxy: ProxyServer, no_leaks: None, tls_certs: TLSCerts, route: str
) -> None:
    # The TLS read waiting for the rest of the record used the send timeout (30 s by default),
    # not what was left of connect_timeout.
    proxy = (
        {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
        if route != "direct"
        else False
    )
    with raw_server(_tls_then_half_a_record(tls_certs.server_context())) as port:
        url = f"wss://127.0.0.1:{port}/"
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="opening handshake"):
            connect(url, proxy=proxy, tls=tls_certs.client_context(), connect_timeout=0.5)
        assert time.monotonic() - started < 2.0
        ws = RecordingClient(url, proxy=proxy, tls=tls_certs.client_context(), connect_timeout=0.5)
        close = ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
        assert close.code == 1006 and isinstance(ws.error, TimeoutError)
        assert time.monotonic() - started < 4.0


def test_a_tcp_connect_timeout_names_the_proxy_it_was_waiting_for(no_leaks: None) -> None:
    with unanswering_port() as port:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=f"TCP connect to the proxy 127.0.0.1:{port}"):
            connect("ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{port}", connect_timeout=0.3)
        assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("value", [-1, 0, float("nan"), float("inf"), True])
def test_a_bad_connect_timeout_is_a_value_error_before_any_io(no_leaks: None, value: float) -> None:
    # It was taken as given: 0 or -1 timed out at once, nan and inf failed later with odd errors.
    with pytest.raises(ValueError, match="connect_timeout"):
        Client("ws://127.0.0.1:9/", connect_timeout=value)
    with pytest.raises(ValueError, match="connect_timeout"):
        connect("ws://127.0.0.1:9/", connect_timeout=value)
