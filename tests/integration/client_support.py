"""Servers and helpers for the client's integration tests.

- ``echo_server(tls=None, **options)``: our own server (http.server + faye_websocket WebSocket)
  echoing every message; records each request head.
- ``raw_server(handler)``: a loopback TCP server that runs ``handler(conn)`` for each connection,
  to write exact bytes (a 101 with a frame behind it, broken handshakes).
- ``RecordingClient``: a Client whose on<type> methods record events, so no event can fire
  before a listener exists.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from faye_websocket.client import Client
from faye_websocket.driver.handshake import accept_value
from faye_websocket.driver.http import HeadBuffer, Request, parse_request
from faye_websocket.events import CloseEvent, ErrorEvent, Event, MessageEvent, OpenEvent
from faye_websocket.server.websocket import WebSocket
from tests.integration.components import serving_in_thread

WAIT = 5.0  # the longest any single step of a client test may take


@dataclass
class EchoServer:
    """A running echo server: its port, scheme and the request heads it has seen."""

    port: int
    secure: bool
    requests: list[Request] = field(default_factory=list)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "wss" if self.secure else "ws"
        return f"{scheme}://{host}:{self.port}{path}"


@contextmanager
def echo_server(
    tls: ssl.SSLContext | None = None,
    protocols: list[str] | None = None,
    greeting: str | None = None,
    **options: Any,
) -> Iterator[EchoServer]:
    """Our server on 127.0.0.1:0 (TLS if ``tls``), echoing text as text and binary as binary.

    With ``greeting`` it sends that message as soon as the connection is open, before reading.
    """
    server_info: EchoServer

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            ws = WebSocket.from_handler(self, protocols, **options)
            server_info.requests.append(ws.request)  # type: ignore[arg-type]
            ws.on("message", lambda event: ws.send(event.data))
            if greeting is not None:
                ws.send(greeting)
            ws.run()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server_info = EchoServer(httpd.server_address[1], tls is not None)
    with serving_in_thread(httpd, "echo-server"):
        yield server_info


@contextmanager
def raw_server(
    handler: Callable[[socket.socket], None], tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[int]:
    """A loopback server running ``handler(conn)`` on its own thread per connection; yields the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, 0), family=family)
    threads: list[threading.Thread] = []

    def serve_one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(WAIT)
            try:
                handler(tls.wrap_socket(conn, server_side=True) if tls else conn)
            except OSError:
                pass

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=serve_one, args=(conn,), name="raw-server-conn")
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept_loop, name="raw-server")
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        listener.close()
        acceptor.join(WAIT)
        for thread in threads:
            thread.join(WAIT)


def read_request(conn: socket.socket) -> tuple[Request, bytes]:
    """Read one request head from ``conn``; returns it and the bytes after it."""
    buffer = HeadBuffer()
    while True:
        data = conn.recv(4096)
        if not data:
            raise ConnectionError("client closed before its request was complete")
        found = buffer.feed(data)
        if found is not None:
            return parse_request(found[0]), found[1]


def switching_protocols(request: Request, *extra: str, accept: str | None = None) -> bytes:
    """A 101 answering ``request`` (or with a wrong ``accept``), plus ``extra`` header lines."""
    key = request.headers.get("Sec-WebSocket-Key", "")
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept if accept is not None else accept_value(key)}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One RFC 6455 frame as a server would write it (unmasked unless ``mask``)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    length = len(payload)
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def recv_exactly(conn: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes; ConnectionError at EOF."""
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("EOF in the middle of a frame")
        data += chunk
    return data


def read_frame(conn: socket.socket) -> tuple[int, bytes]:
    """Read one (masked) client frame; returns its opcode and unmasked payload."""
    first, second = recv_exactly(conn, 2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", recv_exactly(conn, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", recv_exactly(conn, 8))
    mask = recv_exactly(conn, 4) if second & 0x80 else b"\0\0\0\0"
    payload = recv_exactly(conn, length)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def serve_until_close(conn: socket.socket) -> list[tuple[int, bytes]]:
    """Read client frames until its close frame, echo that close, return every frame read.

    The caller's ``with conn`` then closes TCP first, as RFC 6455 section 7.1.1 asks of servers.
    """
    frames = []
    while True:
        opcode, payload = read_frame(conn)
        frames.append((opcode, payload))
        if opcode == 8:
            conn.sendall(frame(8, payload))
            return frames


def wait_for_eof(conn: socket.socket) -> bytes:
    """Read until the client closes its side; returns everything it sent meanwhile."""
    received = b""
    while True:
        data = conn.recv(4096)
        if not data:
            return received
        received += data


class RecordingClient(Client):
    """A Client recording its events in order; ``closed`` is set by the close event.

    Its on<type> handlers are methods, so they exist before the client's thread starts.
    """

    def __init__(self, url: str, *args: Any, **options: Any) -> None:
        self.events: list[Event] = []
        self.closed = threading.Event()
        self.opened = threading.Event()
        self.message_arrived = threading.Event()
        super().__init__(url, *args, **options)

    def onopen(self, event: OpenEvent) -> None:  # type: ignore[override]
        self.events.append(event)
        self.opened.set()

    def onmessage(self, event: MessageEvent) -> None:  # type: ignore[override]
        self.events.append(event)
        self.message_arrived.set()

    def onerror(self, event: ErrorEvent) -> None:  # type: ignore[override]
        self.events.append(event)

    def onclose(self, event: CloseEvent) -> None:  # type: ignore[override]
        self.events.append(event)
        self.closed.set()

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    @property
    def messages(self) -> list[str | bytes]:
        return [event.data for event in self.events if isinstance(event, MessageEvent)]

    @property
    def close_event(self) -> CloseEvent:
        last = self.events[-1]
        assert isinstance(last, CloseEvent), self.types
        return last

    def wait_closed_event(self, timeout: float = WAIT) -> CloseEvent:
        assert self.closed.wait(timeout), f"no close event within {timeout} s; events: {self.types}"
        return self.close_event


TRICKLE_INTERVAL = 0.1  # seconds between the trickled bytes: each read gets data well in time


@contextmanager
def unanswering_port() -> Iterator[int]:
    """A port whose SYNs go unanswered: the stand-in for a dead host on a loopback-only machine.

    A listener whose accept queue is full drops further SYNs (Linux), so the next connect()
    blocks in SYN_SENT.
    """
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers: list[socket.socket] = []
    try:
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
