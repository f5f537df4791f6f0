"""Test support for the server side: hand-written client frames and servers running in a thread.

- ``RawClient``: a plain socket speaking the client side by hand (our own bytes, no library), so
  that tests control every byte: masking, splits, pipelining, reserved bits.
- ``client_frame(...)`` builds one frame; ``read_frame`` parses one server frame.
- ``HTTPServerThread`` runs ``WebSocketHTTPServer`` (http.server + ``from_handler``) and
  ``RawServerThread`` runs ``ThreadingWebSocketServer`` (socketserver, the driver reads the
  head); both echo by default and record every event each connection dispatched.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from faye_websocket.events import Event
from faye_websocket.server.http_server import WebSocketHTTPServer
from faye_websocket.server.socketserver import ThreadingWebSocketServer, WebSocketRequestHandler
from faye_websocket.server.websocket import WebSocket

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
WAIT = 5.0  # seconds any single wait in these tests may take before it counts as a failure

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def handshake_request(path: str = "/", *, key: str | None = None, protocols: str | None = None,
                      extra: tuple[tuple[str, str], ...] = ()) -> tuple[bytes, str]:
    """A hybi-13 upgrade request head and the key it carries."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if protocols:
        lines.append(f"Sec-WebSocket-Protocol: {protocols}")
    lines += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), key


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept value for ``key``."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything ``sock`` receives until the peer closes TCP (each read bounded by the socket's
    timeout)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR with the repeated 4-byte key (RFC 6455 section 5.3), the slow obvious way for tests."""
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big") \
        if payload else b""


def client_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
                 masked: bool = True, length_override: int | None = None) -> bytes:
    """One client frame; ``rsv`` is the 3 RSV bits as an int (4 = RSV1)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload) if length_override is None else length_override
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head = bytes([first, mask_bit | length])
    elif length < 65536:
        head = bytes([first, mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + length.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + mask(payload, key)


def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame body."""
    return code.to_bytes(2, "big") + reason.encode("utf-8")


@dataclass
class Frame:
    """A frame read from the server."""

    fin: bool
    opcode: int
    payload: bytes
    rsv: int = 0
    masked: bool = False

    @property
    def close_code(self) -> int | None:
        """The close code of a close frame (None without one)."""
        return int.from_bytes(self.payload[:2], "big") if len(self.payload) >= 2 else None


class RawClient:
    """A hand-driven client connection to 127.0.0.1:``port``.

    ``request`` replaces the hybi request head; ``trailing`` is sent in the same ``sendall`` as
    the head (a pipelined first frame). The response head is read at once unless
    ``read_response=False``.
    """

    def __init__(self, port: int, *, path: str = "/", protocols: str | None = None,
                 request: bytes | None = None, trailing: bytes = b"", read_response: bool = True,
                 extra: tuple[tuple[str, str], ...] = (), timeout: float = WAIT,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname="localhost")
        self.buffer = bytearray()
        if request is None:
            request, self.key = handshake_request(path, protocols=protocols, extra=extra)
        self.sock.sendall(request + trailing)
        self.status: int | None = None
        self.head = ""
        if read_response:
            self.read_response()

    def read_response(self) -> str:
        """Read the response head; sets ``status`` and returns the head text."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        end = self.buffer.index(b"\r\n\r\n") + 4
        self.head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[:end]
        self.status = int(self.head.split(" ", 2)[1])
        return self.head

    def header(self, name: str) -> str | None:
        """A response header's value (first occurrence), case-insensitive."""
        for line in self.head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.buffer += data

    def read_exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes (EOFError if the server closes first)."""
        while len(self.buffer) < size:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def send(self, data: bytes) -> None:
        """Raw bytes to the server."""
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes = b"", **options: Any) -> None:
        """One client frame (see client_frame)."""
        self.sock.sendall(client_frame(opcode, payload, **options))

    def read_frame(self) -> Frame:
        """The next server frame."""
        first, second = self.read_exact(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(self.read_exact(2), "big")
        elif length == 127:
            length = int.from_bytes(self.read_exact(8), "big")
        key = self.read_exact(4) if second & 0x80 else b""
        payload = self.read_exact(length)
        if key:
            payload = mask(payload, key)
        return Frame(bool(first & 0x80), first & 0x0F, payload, (first >> 4) & 0x7, bool(key))

    def read_message(self) -> Frame:
        """The next data frame, skipping pings and pongs."""
        while True:
            frame = self.read_frame()
            if frame.opcode not in (PING, PONG):
                return frame

    def expect_eof(self) -> None:
        """Wait until the server closes TCP (AssertionError if more data comes)."""
        data = self.sock.recv(65536)
        assert not data and not self.buffer, f"expected EOF, got {bytes(self.buffer) + data!r}"

    def read_until_eof(self) -> bytes:
        """Everything until the server closes TCP."""
        data = bytes(self.buffer)
        self.buffer.clear()
        return data + read_to_eof(self.sock)

    def close_handshake(self, code: int = 1000, reason: str = "") -> Frame:
        """Send a close frame, return the server's close frame, and expect its EOF."""
        self.send_frame(CLOSE, close_payload(code, reason))
        frame = self.read_message()
        self.expect_eof()
        return frame

    def close(self) -> None:
        """Close our socket."""
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Setup = Callable[[WebSocket], None]


def echo(ws: WebSocket) -> None:
    """The default setup: echo every message."""
    ws.on("message", lambda event: ws.send(event.data))


@dataclass
class Recorded:
    """Events of every connection a test server accepted, with a condition to wait on."""

    events: list[tuple[WebSocket, Event]] = field(default_factory=list)
    sockets: list[WebSocket] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add_socket(self, ws: WebSocket) -> None:
        with self.cond:
            self.sockets.append(ws)
            self.cond.notify_all()
        for kind in ("open", "message", "error", "close", "ping", "pong"):
            ws.on(kind, lambda event, ws=ws: self._add(ws, event))

    def _add(self, ws: WebSocket, event: Event) -> None:
        with self.cond:
            self.events.append((ws, event))
            self.cond.notify_all()

    def of_type(self, kind: str) -> list[Event]:
        with self.cond:
            return [event for _, event in self.events if event.type == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = WAIT) -> list[Event]:
        """Wait until ``count`` events of ``kind`` were recorded; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len([e for _, e in self.events if e.type == kind]) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no {count} {kind!r} events within {timeout}s: {self.events}"
                self.cond.wait(remaining)
            return [e for _, e in self.events if e.type == kind]

    def wait_socket(self, timeout: float = WAIT) -> WebSocket:
        """The first accepted WebSocket (waits for it)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.sockets:
                remaining = deadline - time.monotonic()
                assert remaining > 0, "no WebSocket was accepted"
                self.cond.wait(remaining)
            return self.sockets[0]


class _ServerThread:
    """Runs a socketserver in a thread; stops it (connections closed with 1001) on exit."""

    server: Any

    def __init__(self) -> None:
        self.recorded = Recorded()
        self.scheme = "ws"
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def use_tls(self, context: ssl.SSLContext) -> _ServerThread:
        """Serve TLS: the handshake runs in accept(), on the server's thread (fine for tests)."""
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "wss"
        return self

    def __enter__(self) -> _ServerThread:
        self.server.shutdown_grace = 2.0
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="test-server")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        assert self._thread is not None
        self._thread.join(WAIT)
        self.wait_handlers_done()

    def wait_handlers_done(self, timeout: float = WAIT) -> None:
        """Wait until every accepted WebSocket has dispatched its close event."""
        deadline = time.monotonic() + timeout
        for ws in list(self.recorded.sockets):
            while ws.connection.close_event is None and time.monotonic() < deadline:
                time.sleep(0.01)


class HTTPServerThread(_ServerThread):
    """http.server + WebSocket.from_handler; ``setup(ws)`` attaches listeners (default: echo)."""

    def __init__(self, setup: Setup = echo, protocols: list[str] | None = None, **options: Any) -> None:
        super().__init__()
        recorded = self.recorded

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ws = WebSocket.from_handler(self, protocols, **options)
                recorded.add_socket(ws)
                setup(ws)
                if ws.ready_state.name != "CLOSED":
                    ws.run()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = WebSocketHTTPServer(("127.0.0.1", 0), Handler)


class RawServerThread(_ServerThread):
    """socketserver + WebSocket(None, sock): the driver reads the HTTP head itself."""

    def __init__(self, setup: Setup = echo, protocols: list[str] | None = None, **options: Any) -> None:
        super().__init__()
        recorded = self.recorded

        class Handler(WebSocketRequestHandler):
            websocket_options = options

            def setup_websocket(self, websocket: WebSocket) -> None:
                recorded.add_socket(websocket)
                setup(websocket)

        Handler.protocols = protocols
        self.server = ThreadingWebSocketServer(("127.0.0.1", 0), Handler)


def iter_chunks(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in pieces of ``size`` bytes."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
