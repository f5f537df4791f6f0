"""WebSocketHTTPServer's shutdown also ends live EventSource streams, so no handler is left hanging."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

from faye_websocket import EventSource
from faye_websocket.server.http_server import WebSocketHTTPServer

WAIT = 5.0


def test_server_close_ends_live_event_streams_and_fires_their_close_event(no_leaks: None) -> None:
    closed = threading.Event()
    opened = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stream = EventSource.from_handler(self, ping=None)
            stream.on("close", lambda event: closed.set())
            opened.set()

        def log_message(self, *args: object) -> None:
            pass

    server = WebSocketHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    client = socket.create_connection(server.server_address[:2], timeout=WAIT)
    try:
        client.sendall(b"GET /events HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n")
        assert opened.wait(WAIT)
        head = client.recv(4096)
        assert head.startswith(b"HTTP/1.1 200 OK")
        started = time.monotonic()
        server.shutdown()
        server.server_close()
        assert closed.wait(WAIT)
        while client.recv(4096):  # the stream ends: EOF, not a hang
            pass
        assert time.monotonic() - started < WAIT
    finally:
        client.close()
        thread.join(WAIT)
