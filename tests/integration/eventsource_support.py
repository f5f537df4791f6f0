"""Shared pieces of the EventSource integration tests: a stdlib server that hands EventSource
requests to a test's function, a raw-socket client that reads exact bytes, and bounded waits."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from faye_websocket.eventsource.client import EventSourceClient
from faye_websocket.eventsource.parser import ServerSentEvent
from faye_websocket.eventsource.writer import EventSource
from tests.integration.components import serving_in_thread

StreamFunction = Callable[[BaseHTTPRequestHandler], None]
ACCEPT_STREAM = "text/event-stream"


class StreamServer(ThreadingHTTPServer):
    """ThreadingHTTPServer calling ``stream(handler)`` for EventSource requests; ``pages`` for others."""

    daemon_threads = True
    request_queue_size = 1024  # the 500-stream test connects all at once

    def __init__(self, stream: StreamFunction, pages: dict[str, tuple[bytes, str]] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.stream = stream
        self.pages = pages or {}
        self.tls = tls
        self.requests: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, address

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str = "/stream", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: StreamServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.requests.append(dict(self.headers.items(), path=self.path))
        if EventSource.is_event_source(self):
            self.server.stream(self)
            return
        page = self.server.pages.get(self.path.split("?", 1)[0])
        if page is None:
            self.send_error(404)
            return
        body, content_type = page
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


@contextmanager
def serving(stream: StreamFunction, pages: dict[str, tuple[bytes, str]] | None = None,
            tls: ssl.SSLContext | None = None) -> Iterator[StreamServer]:
    """Run a StreamServer on a thread; shut it down and close it afterwards."""
    with serving_in_thread(StreamServer(stream, pages, tls), "eventsource-test-server") as server:
        yield server


def open_stream(port: int, path: str = "/stream", *, headers: dict[str, str] | None = None,
                timeout: float = 5.0) -> socket.socket:
    """Connect and send an EventSource GET; returns the socket (the caller closes it)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    fields = {"Host": f"127.0.0.1:{port}", "Accept": ACCEPT_STREAM, **(headers or {})}
    head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    sock.sendall(head.encode())
    return sock


def read_until(sock: socket.socket, marker: bytes, timeout: float = 5.0, buffer: bytes = b"") -> bytes:
    """Read until ``marker`` is in the bytes read (or EOF); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    data = bytearray(buffer)
    while marker not in data:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} within {timeout} s; got {bytes(data)!r}"
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def read_to_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything until the server closes the connection; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no EOF within {timeout} s; got {bytes(data[-200:])!r}"
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(data)
        data += chunk


def take(client: EventSourceClient, count: int, timeout: float = 10.0) -> list[ServerSentEvent]:
    """The first ``count`` events, read on a thread so that a hang fails instead of blocking."""
    events: list[ServerSentEvent] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for event in client:
                events.append(event)
                if len(events) == count:
                    break
        except BaseException as error:  # handed to the test thread
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        client.close()
        reader.join(5)
        raise AssertionError(f"only {len(events)} of {count} events within {timeout} s: {events}")
    if errors:
        raise errors[0]
    return events


Reading = tuple[threading.Thread, list[ServerSentEvent], list[BaseException]]


def read_in_thread(client: EventSourceClient) -> Reading:
    """Iterate ``client`` on a new thread; returns the thread, the events and any exception raised."""
    events: list[ServerSentEvent] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            events.extend(client)
        except BaseException as error:  # handed to the test thread
            errors.append(error)

    thread = threading.Thread(target=read)
    thread.start()
    return thread, events, errors


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` every 10 ms until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
