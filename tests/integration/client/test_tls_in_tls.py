"""TLS inside TLS over a loopback socket, without a proxy: the transport's own behaviour.

The server side nests TLS the same way (``TLSInTLS(server_side=True)``), so both layers are
real. The stall this guards against: one read of the outer layer brings several inner records;
the first is returned, the others wait in memory while the socket has nothing more to say.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from faye_websocket.net.transport import SocketTransport, TLSInTLS, Transport
from tests.integration.client_support import TRICKLE_INTERVAL, WAIT
from tests.integration.components import TLSCerts


@contextmanager
def nested_tls_pair(tls_certs: TLSCerts, serve: Callable[[TLSInTLS], None]) -> Iterator[TLSInTLS]:
    """A client TLSInTLS connected to a server thread running ``serve(inner)``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT)
    server_error: list[BaseException] = []

    def server() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(WAIT)
                outer = tls_certs.server_context().wrap_socket(conn, server_side=True)
                inner = TLSInTLS(SocketTransport(outer), tls_certs.server_context(), None, server_side=True)
                inner.handshake()
                serve(inner)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            server_error.append(exc)

    thread = threading.Thread(target=server, name="nested-tls-server")
    thread.start()
    sock = socket.create_connection(listener.getsockname(), timeout=WAIT)
    outer = tls_certs.client_context().wrap_socket(sock, server_hostname="localhost")
    inner = TLSInTLS(SocketTransport(outer), tls_certs.client_context(), "localhost")
    try:
        inner.handshake()
        yield inner
    finally:
        inner.close()
        thread.join(WAIT)
        listener.close()
    assert not server_error, server_error


def read_with_select(transport: Transport, size: int, budget: float) -> bytes:
    """Read ``size`` bytes as a reader loop does: pending() first, else wait in select."""
    data = b""
    deadline = time.monotonic() + budget
    while len(data) < size:
        if not transport.pending():
            readable, _, _ = select.select(
                [transport.fileno()], [], [], max(0.0, deadline - time.monotonic())
            )
            assert readable, f"stalled after {len(data)} of {size} bytes"
        data += transport.recv(size - len(data))
    return data


def test_records_that_arrive_together_are_readable_without_waiting_on_the_socket(
    no_leaks: None, tls_certs: TLSCerts
) -> None:
    def serve(inner: TLSInTLS) -> None:
        # Three inner records in one outer record, as a proxy relays a burst of small frames.
        for part in (b"one", b"two", b"three"):
            inner.ssl_object.write(part)
        inner.sendall(b"")  # flush them in one write
        inner.recv(1)  # wait for the client to finish

    with nested_tls_pair(tls_certs, serve) as client:
        assert read_with_select(client, 3, budget=WAIT) == b"one"  # one inner record per read
        assert client.pending() > 0  # the others came with it: no need to wait on the socket
        assert read_with_select(client, 8, budget=0.5) == b"twothree"
        client.sendall(b"x")


def test_echo_both_ways_and_eof(no_leaks: None, tls_certs: TLSCerts) -> None:
    def serve(inner: TLSInTLS) -> None:
        while True:
            data = inner.recv(65536)
            if not data:
                inner.sendall(b"bye")  # TLS 1.3 half-close: the client still reads after its close_notify
                return
            inner.sendall(data)

    with nested_tls_pair(tls_certs, serve) as client:
        for size in (1, 1000, 16384, 16385, 200000):
            message = bytes([size % 251]) * size
            client.sendall(message)
            assert read_with_select(client, size, budget=WAIT) == message
        client.shutdown_write()
        assert read_with_select(client, 3, budget=WAIT) == b"bye"
        assert client.recv(10) == b""  # the server saw a clean EOF and ended its side
        assert client.pending() == 1  # an EOF counts as something recv() returns at once


def test_handshake_against_the_wrong_name_fails_inside(no_leaks: None, tls_certs: TLSCerts) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT)

    def server() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(WAIT)
            outer = tls_certs.server_context().wrap_socket(conn, server_side=True)
            inner = TLSInTLS(SocketTransport(outer), tls_certs.server_context(), None, server_side=True)
            try:
                inner.handshake()
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=server)
    thread.start()
    sock = socket.create_connection(listener.getsockname(), timeout=WAIT)
    outer = SocketTransport(tls_certs.client_context().wrap_socket(sock, server_hostname="localhost"))
    inner = TLSInTLS(outer, tls_certs.client_context(), "not-the-server.example")
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="not-the-server.example"):
            inner.handshake()
    finally:
        inner.close()
        thread.join(WAIT)
        listener.close()


def test_a_corrupt_record_is_raised_by_recv_not_by_pending(no_leaks: None, tls_certs: TLSCerts) -> None:
    # TLS over a plain socket here, so that one read brings a good record and a corrupt one.
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT)
    sent = threading.Event()

    def server() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(WAIT)
            inner = TLSInTLS(SocketTransport(conn), tls_certs.server_context(), None, server_side=True)
            inner.handshake()
            inner.sendall(b"ok")
            conn.sendall(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)  # application data failing its MAC
            sent.set()
            conn.recv(1)  # until the client gives up

    thread = threading.Thread(target=server)
    thread.start()
    client = TLSInTLS(
        SocketTransport(socket.create_connection(listener.getsockname(), timeout=WAIT)),
        tls_certs.client_context(),
        "localhost",
    )
    try:
        client.handshake()
        assert sent.wait(WAIT)  # on loopback both records are now in our receive buffer
        assert client.recv(100) == b"ok"  # one read took both records into memory
        assert client.pending() > 0  # the bad record counts as ready; pending() did not raise
        with pytest.raises(ssl.SSLError):
            client.recv(100)
    finally:
        client.close()
        thread.join(WAIT)
        listener.close()


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
