"""wss deadlines when the server sends half a TLS record: ``recv(timeout)`` and ``close()`` keep
their own deadlines instead of waiting for the send timeout inside a TLS read."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from faye_websocket.client import connect
from faye_websocket.driver.http import HeadBuffer, parse_request
from faye_websocket.net.transport import SocketTransport, TLSInTLS
from tests.integration.client_support import WAIT, frame, raw_server, switching_protocols
from tests.integration.components import TLSCerts

RECV_TIMEOUT = 1.0
CLOSE_TIMEOUT = 1.0
SLACK = 1.5  # seconds a deadline may be overrun on a busy machine (the bug overran it by 29)


def test_recv_timeout_and_close_are_kept_when_a_tls_record_arrives_half(
        no_leaks: None, tls_certs: TLSCerts) -> None:
    release = threading.Event()
    sent_half = threading.Event()

    def half_record(conn: socket.socket) -> None:
        tls = TLSInTLS(SocketTransport(conn), tls_certs.server_context(), None, server_side=True)
        tls.settimeout(WAIT)
        tls.handshake()
        buffer = HeadBuffer()
        found = None
        while found is None:
            found = buffer.feed(tls.recv(4096))
        tls.sendall(switching_protocols(parse_request(found[0])))
        with tls._ssl_lock:  # encrypt one frame, then put only half of its record on the wire
            tls._obj.write(frame(0x1, b"x" * 1000))
            record = tls._outgoing.read()
        conn.sendall(record[: len(record) // 2])
        sent_half.set()
        release.wait(WAIT * 4)

    with raw_server(half_record) as port:
        ws = connect(f"wss://localhost:{port}/", tls=tls_certs.client_context(), close_timeout=CLOSE_TIMEOUT)
        try:
            assert sent_half.wait(WAIT)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                ws.recv(timeout=RECV_TIMEOUT)
            assert time.monotonic() - started < RECV_TIMEOUT + SLACK
            started = time.monotonic()
            ws.close()
            assert time.monotonic() - started < CLOSE_TIMEOUT + SLACK
        finally:
            release.set()
            ws.close()
