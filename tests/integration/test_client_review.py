"""Review of the blocking client's opening phase: deadlines, aborts, TLS inside TLS, proxies.

Each test here reproduces a defect found in review (or pins a behaviour the review checked),
with real sockets on loopback, the real squid / tinyproxy fixtures and trustme certificates.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from faye_websocket.client import connect
from faye_websocket.transport import TLSInTLS
from tests.integration.client_support import raw_server
from tests.integration.components import ProxyServer, TLSCerts
from tests.integration.test_tls_in_tls import nested_tls_pair

# A TLS record header announcing a 16000-byte handshake record; its body then trickles in.
PARTIAL_RECORD_HEADER = b"\x16\x03\x03\x3e\x80"
TRICKLE_INTERVAL = 0.1  # seconds between the trickled bytes: each read gets data well in time


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy from the machine's environment leaks into these tests."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


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
    with pytest.raises(TimeoutError, match="TLS handshake"):
        connect(f"wss://127.0.0.1:{trickling_tls_server}/", connect_timeout=0.5)
    assert time.monotonic() - started < 2.0


def test_a_tunnelled_tls_handshake_trickling_times_out_within_connect_timeout(
    squid_proxy: ProxyServer, no_leaks: None, tls_certs: TLSCerts, trickling_tls_server: int
) -> None:
    # Through squid's TLS listener the origin's TLS runs inside TLS (memory BIOs): each read of
    # the outer socket got a byte in time, but the handshake as a whole must not outlive the budget.
    proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="TLS handshake"):
        connect(f"wss://127.0.0.1:{trickling_tls_server}/", proxy=proxy, connect_timeout=0.5)
    assert time.monotonic() - started < 2.0


def test_tls_in_tls_recv_timeout_bounds_a_record_that_trickles_in(
    no_leaks: None, tls_certs: TLSCerts
) -> None:
    # SSLSocket.recv's timeout bounds the whole call; TLSInTLS.recv must not restart it for
    # every byte of a record that a peer (or a slow proxy) trickles in.
    stop = threading.Event()

    def serve(inner: TLSInTLS) -> None:
        inner.ssl_object.write(b"x" * 1000)
        record = inner._outgoing.read()  # one encrypted inner record, sent a byte at a time
        for byte in record:
            inner.outer.sendall(bytes([byte]))
            if stop.wait(TRICKLE_INTERVAL / 2):
                return

    with nested_tls_pair(tls_certs, serve) as client:
        try:
            client.settimeout(0.5)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                client.recv(65536)
            assert time.monotonic() - started < 1.5
        finally:
            stop.set()
