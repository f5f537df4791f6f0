"""The servers' limits under load, in process and quick: request-head deadline and size cap on the
http.server path (408/431), the connection limit's 503, the memory budget (1013) and the deadline
of an unfinished message (1008). The floods themselves are in tests/integration/overload."""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from faye_websocket.connection.budget import PROCESS_BUDGET, set_memory_budget
from faye_websocket.server.admission import AdmissionMixIn
from tests.integration.server_support import (
    BINARY,
    CLOSE,
    WAIT,
    HTTPServerThread,
    RawClient,
    RawServerThread,
    client_frame,
    read_to_eof,
)

HEAD_TIMEOUT = 0.5


def response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (each read within WAIT)."""
    sock.settimeout(WAIT)
    return read_to_eof(sock)


@pytest.fixture
def http_server() -> Iterator[HTTPServerThread]:
    with HTTPServerThread() as server:
        server.server.head_timeout = HEAD_TIMEOUT
        yield server


def test_a_head_not_complete_by_the_deadline_gets_408_and_is_closed(no_leaks: None,
                                                                      http_server: HTTPServerThread) -> None:
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=WAIT) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):  # a byte now and then keeps a per-read timeout alive, not this deadline
            time.sleep(HEAD_TIMEOUT / 3)
            try:
                sock.sendall(b"X")
            except OSError:
                break
        data = response(sock)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data
    assert time.monotonic() - started < HEAD_TIMEOUT + 2.0


def test_an_idle_connection_is_closed_at_the_deadline_without_an_answer(
        no_leaks: None, http_server: HTTPServerThread) -> None:
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=WAIT) as sock:
        assert response(sock) == b""


def test_a_head_over_16_kib_gets_431(no_leaks: None, http_server: HTTPServerThread) -> None:
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=WAIT) as sock:
        fields = b"".join(b"X-%d: %s\r\n" % (i, b"a" * 200) for i in range(90))
        head = b"GET / HTTP/1.1\r\nHost: x\r\n" + fields
        try:
            sock.sendall(head + b"\r\n")
        except OSError:
            pass  # the server may close before reading it all
        data = response(sock)
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), data[:100]


def test_the_socketserver_path_answers_408_when_the_head_is_late(no_leaks: None) -> None:
    with RawServerThread(handshake_timeout=HEAD_TIMEOUT) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            data = response(sock)
        server.recorded.wait_for("close")
    assert data.startswith(b"HTTP/1.1 408 "), data


def test_a_head_within_the_limits_is_served_as_before(no_leaks: None, http_server: HTTPServerThread) -> None:
    with RawClient(http_server.port) as client:
        assert client.status == 101
        client.send_frame(0x1, b"hello")
        assert client.read_message().payload == b"hello"
        client.close_handshake()


def test_the_http_server_path_answers_503_beyond_max_connections_and_logs_it(
        no_leaks: None, caplog: pytest.LogCaptureFixture) -> None:
    with HTTPServerThread() as server:
        server.server.max_connections = 1
        with RawClient(server.port) as first, caplog.at_level(logging.WARNING, "faye_websocket"):
            assert first.status == 101
            with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as extra:
                data = response(extra)
            first.close_handshake()
    assert data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), data
    assert b"\r\nRetry-After: 5\r\n" in data, data
    assert any("refused with 503 (connection limit)" in record.message for record in caplog.records)


@pytest.fixture
def small_budget() -> Iterator[int]:
    limit = PROCESS_BUDGET.limit
    set_memory_budget(1 << 20)
    try:
        yield 1 << 20
    finally:
        set_memory_budget(limit)


def test_a_connection_that_would_pass_the_memory_budget_is_closed_with_1013(
        no_leaks: None, small_budget: int) -> None:
    with RawServerThread() as server, RawClient(server.port) as client:
        fragment = client_frame(BINARY, b"z" * 65536, fin=False)
        continuation = client_frame(0x0, b"z" * 65536, fin=False)
        try:
            client.send(fragment)
            for _ in range(2 * small_budget // 65536):
                client.send(continuation)
        except OSError:
            pass  # closed while we sent: the close frame is already waiting for us
        frame = client.read_message()
        server.recorded.wait_for("close")
    assert frame.opcode == CLOSE and frame.close_code == 1013, frame
    assert PROCESS_BUDGET.used == 0  # the closed connection gave its charge back


def test_an_unfinished_message_past_message_timeout_is_closed_with_1008(no_leaks: None) -> None:
    with RawServerThread(message_timeout=0.5) as server, RawClient(server.port) as client:
        client.send(client_frame(BINARY, b"part", fin=False))
        started = time.monotonic()
        frame = client.read_message()
        server.recorded.wait_for("close")
    assert frame.opcode == CLOSE and frame.close_code == 1008, frame
    assert time.monotonic() - started < 3.0


def test_a_get_request_of_a_class_below_the_admission_mixin_still_accepts() -> None:
    """The accepting thread's own accept() is used only where socketserver's would be: a server
    whose bases override get_request below AdmissionMixIn keeps getting its connections through it."""
    accepted: list[object] = []

    class Counting(socketserver.TCPServer):
        def get_request(self) -> tuple[socket.socket, object]:
            sock, address = super().get_request()
            accepted.append(address)
            return sock, address

    class Answer(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(b"hi")

    class Server(AdmissionMixIn, socketserver.ThreadingMixIn, Counting):
        daemon_threads = True

        def __init__(self) -> None:
            self._admission_init()
            super().__init__(("127.0.0.1", 0), Answer)

    server = Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        for _ in range(2):
            with socket.create_connection(server.server_address, timeout=WAIT) as sock:
                assert response(sock) == b"hi"
        assert len(accepted) == 2
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)
