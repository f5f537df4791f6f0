"""How the request head arrives on the http.server path, through real sockets: whole in one packet
with a first frame behind it, in pieces, and one head after another on a kept-alive connection."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from faye_websocket.server.http_server import WebSocketHTTPServer
from faye_websocket.server.websocket import WebSocket
from tests.integration.server_support import (
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    client_frame,
    handshake_request,
)


@pytest.fixture
def echo_server() -> Iterator[HTTPServerThread]:
    with HTTPServerThread() as server:
        yield server


def test_a_first_frame_sent_with_the_head_is_echoed(echo_server: HTTPServerThread) -> None:
    frames = client_frame(TEXT, b"first") + client_frame(TEXT, b"second")
    with RawClient(echo_server.port, trailing=frames) as raw:
        assert raw.status == 101
        assert raw.read_message().payload == b"first"
        assert raw.read_message().payload == b"second"
        raw.close_handshake()


def test_a_head_in_pieces_is_read_whole_and_upgraded(echo_server: HTTPServerThread) -> None:
    request, _key = handshake_request()
    with socket.create_connection(("127.0.0.1", echo_server.port), timeout=WAIT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(request), 7):  # separate packets, as a slow client sends them
            sock.sendall(request[start:start + 7])
            time.sleep(0.002)
        sock.sendall(client_frame(TEXT, b"after"))
        data = b""
        while b"after" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed early: {data!r}"
            data += chunk
    assert data.startswith(b"HTTP/1.1 101 ")


class PlainHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: several heads on one connection

    def do_GET(self) -> None:
        if WebSocket.is_websocket(self):
            ws = WebSocket.from_handler(self)
            ws.on("message", lambda event: ws.send(event.data))
            ws.run()
            return
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def plain_server() -> Iterator[WebSocketHTTPServer]:
    server = WebSocketHTTPServer(("127.0.0.1", 0), PlainHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def read_responses(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` responses with Content-Length bodies: their bodies."""
    data, bodies = b"", []
    while len(bodies) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode("latin-1")
            length = int(head.lower().split("content-length:")[1].split("\r\n")[0])
            if len(data) >= end + 4 + length:
                bodies.append(data[end + 4:end + 4 + length])
                data = data[end + 4 + length:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(bodies)} responses"
        data += chunk
    return bodies


def test_kept_alive_requests_each_get_their_answer_then_an_upgrade(plain_server: WebSocketHTTPServer) -> None:
    port = int(plain_server.server_address[1])
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        # Two heads and a body in one packet: the body and the second head are buffered behind
        # the first head.
        sock.sendall(b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                     b"GET /two HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_responses(sock, 2) == [b"hello", b"/two"]
        request, _key = handshake_request("/three")
        sock.sendall(request + client_frame(TEXT, b"echoed"))
        data = b""
        while b"echoed" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed early: {data!r}"
            data += chunk
        assert data.startswith(b"HTTP/1.1 101 ")
