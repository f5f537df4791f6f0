"""The common request head's quick parse (server/request_head.py) gives a handler exactly what
http.server's own parse gives, through real sockets: the same heads are sent to a
WebSocketHTTPServer (guarded handler, quick parse when it applies) and to a plain http.server
(its own parse), and what each handler sees is compared."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from faye_websocket.server.http_server import WebSocketHTTPServer
from faye_websocket.server.takeover import request_from
from faye_websocket.server.websocket import WebSocket
from tests.integration.server_support import WAIT, handshake_request, read_to_eof

UPGRADE, _KEY = handshake_request("/chat?room=1")
QUICK = "quick"  # the head took the quick parse
OWN = "own"  # the head took http.server's own parse

# (head, which parse the guarded server should use)
HEADS: list[tuple[bytes, str]] = [
    (UPGRADE, QUICK),
    (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", QUICK),
    (b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", QUICK),
    (b"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", QUICK),
    (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", QUICK),
    (b"GET / HTTP/1.1\r\nHost: a\r\nCONNECTION: Close\r\nconnection: keep-alive\r\n\r\n", QUICK),
    (b"GET //evil.example/x HTTP/1.1\r\nHost: a\r\n\r\n", QUICK),
    (b"GET / HTTP/1.1\r\nHost:a\r\nX-Pad: \t  spaced value \t \r\nX-Empty:\r\nX-Blank:   \r\n\r\n", QUICK),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Twice: 1\r\nx-twice: 2\r\nX-Colon: a:b: c\r\n\r\n", QUICK),
    (b"GET  /spaced   HTTP/1.1\r\nHost: a\r\n\r\n", QUICK),
    (b"GET / HTTP/1.1\r\n\r\n", QUICK),
    (b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", QUICK),
    (b"GET / HTTP/1.1\r\nHost: a\r\n\n", QUICK),  # a bare LF ends the head (RFC 9112 section 2.2)
    # everything else: http.server's own parse
    (b"GET / HTTP/1.1\nHost: a\n\n", OWN),
    (b"GET / HTTP/1.1\r\nHost: a\n\r\n", OWN),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Fold: one\r\n two\r\n\r\n", OWN),
    (b"GET / HTTP/1.1\r\nHost: a\nX-After-Lf: 2\r\n\r\n", OWN),
    (b"GET / HTTP/1.1\r\nHost: a\rX-After-Cr: 2\r\n\r\n", OWN),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9\r\n\r\n", OWN),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Ctl: a\x01b\r\n\r\n", OWN),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Cr: a\rb\r\n\r\n", OWN),
    (b"GET / HTTP/1.1\r\nBad Name: x\r\nHost: a\r\n\r\n", OWN),
    (b"GET / HTTP/1.1\r\nHost: a\r\nNo-colon-here\r\n\r\n", OWN),
    (b"GET / HTTP/1.1\r\n: empty-name\r\n\r\n", OWN),
    (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", OWN),
    (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", OWN),
    (b"GET / HTTP/01.1\r\nHost: a\r\n\r\n", OWN),
    (b"GET /\r\n", OWN),
    # http.client's limit: 99 fields are read, 100 are refused (431)
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(100)) + b"\r\n", OWN),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(99)) + b"\r\n", QUICK),
]


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with what parse_request left on the handler, as JSON."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        quick = "_faye_websocket_request" in self.__dict__  # request_head.py remembered its Request
        request = request_from(self)
        seen = {
            "command": self.command, "path": self.path, "version": self.request_version,
            "requestline": self.requestline, "close": self.close_connection,
            "message": {key: repr(value) for key, value in vars(self.headers).items()},
            "items": self.headers.items(),
            "request": [request.method, request.target, request.version, list(request.headers)],
            "upgrade": WebSocket.is_websocket(self),
        }
        body = json.dumps({"seen": seen, "quick": quick}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(server: HTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


@pytest.fixture(scope="module")
def guarded_port() -> Iterator[int]:
    yield from serve(WebSocketHTTPServer(("127.0.0.1", 0), Recorder))


@pytest.fixture(scope="module")
def plain_port() -> Iterator[int]:
    yield from serve(HTTPServer(("127.0.0.1", 0), Recorder))


def exchange(port: int, head: bytes) -> bytes:
    """Send ``head`` in one write; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(head)
        sock.shutdown(socket.SHUT_WR)  # an HTTP/0.9 request line reads headers until the end
        return read_to_eof(sock)


def answer(data: bytes) -> tuple[str, Any]:
    """(status line, JSON body or None) of the last response in ``data`` (after a 100 Continue)."""
    head, _, body = data.rpartition(b"\r\n\r\n")
    status = head.rsplit(b"\r\n\r\n", 1)[-1].split(b"\r\n", 1)[0].decode("latin-1")
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


@pytest.mark.parametrize(("head", "parse"), HEADS, ids=[f"{n}-{parse}" for n, (_, parse) in enumerate(HEADS)])
def test_the_handler_sees_what_http_server_parses(guarded_port: int, plain_port: int, head: bytes,
                                                   parse: str) -> None:
    guarded_status, guarded = answer(exchange(guarded_port, head))
    plain_status, plain = answer(exchange(plain_port, head))
    assert guarded_status == plain_status
    if plain is None:  # refused by http.server (400, 505...): refused alike
        assert guarded is None
        return
    assert guarded["seen"] == plain["seen"]
    assert guarded["quick"] is (parse == QUICK)
