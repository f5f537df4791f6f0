"""Servers the overload scenarios run in a subprocess: ``python -m tests.integration.overload.servers KIND``.

KIND is ``raw`` (the socketserver adapter, ``ThreadingWebSocketServer`` echo) or ``bare`` (the
reference: one thread per connection, a canned 101, echo; no library at all). Each prints
``Listening on ws://127.0.0.1:PORT/`` once bound (like the demo and ``serve``) and runs until
SIGTERM. The demo (``examples/server.py``) and ``python -m faye_websocket serve`` are started as
they are shipped, so they need nothing here.

The bare server is the yardstick of the mass-disconnect scenario: what a thread-per-connection
echo costs in pure Python with nothing else, measured in the same run as ours.
"""

from __future__ import annotations

import base64
import hashlib
import signal
import socket
import socketserver
import sys
import threading
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
HEAD_END = b"\r\n\r\n"
BACKLOG = 128  # the same listen backlog as the library's servers, so the comparison is fair


class BareEcho(socketserver.BaseRequestHandler):
    """Read the head, answer a canned 101, echo unfragmented frames until EOF or a close frame."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        buffer = bytearray()
        while HEAD_END not in buffer:
            data = sock.recv(4096)
            if not data or len(buffer) > 16384:
                return
            buffer += data
        head, _, rest = bytes(buffer).partition(HEAD_END)
        key = b""
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        self.echo(sock, bytearray(rest))

    @staticmethod
    def echo(sock: socket.socket, buffer: bytearray) -> None:
        """Echo each frame's payload back unmasked (RFC 6455 section 5.2 framing, no checks)."""
        while True:
            while len(buffer) < 2 or len(buffer) < BareEcho.frame_size(buffer):
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            size = BareEcho.frame_size(buffer)
            first, second = buffer[0], buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                length, offset = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                length, offset = int.from_bytes(buffer[2:10], "big"), 10
            key = bytes(buffer[offset:offset + 4])
            payload = bytes(buffer[offset + 4:size])
            del buffer[:size]
            repeated = (key * (length // 4 + 1))[:length]
            unmasked = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
            payload = unmasked.to_bytes(length, "big")
            if first & 0x0F == 0x8:
                sock.sendall(b"\x88\x00")
                return
            sock.sendall(bytes([first, length]) + payload if length < 126 else
                         bytes([first, 126]) + length.to_bytes(2, "big") + payload)

    @staticmethod
    def frame_size(buffer: bytearray) -> int:
        """The whole frame's size once its length field has arrived (else a size not yet reached)."""
        length = buffer[1] & 0x7F
        if length == 126:
            return 8 + int.from_bytes(buffer[2:4], "big") if len(buffer) >= 4 else 1 << 30
        if length == 127:
            return 14 + int.from_bytes(buffer[2:10], "big") if len(buffer) >= 10 else 1 << 30
        return 6 + length


class BareServer(socketserver.ThreadingTCPServer):
    """The yardstick's server: daemon threads, the library's backlog."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG


def raw_server(max_connections: int | None) -> socketserver.TCPServer:
    """The socketserver adapter echoing every message (the driver reads the head)."""
    try:
        from faye_websocket.server.socketserver import ThreadingWebSocketServer, WebSocketRequestHandler
    except ImportError:  # BEFORE-LAYOUT: remove once re-housed
        from faye_websocket.adapters.socketserver import ThreadingWebSocketServer, WebSocketRequestHandler  # type: ignore

    class Echo(WebSocketRequestHandler):
        def setup_websocket(self, ws: object) -> None:
            ws.on("message", lambda event: ws.send(event.data))  # type: ignore[attr-defined]

    server = ThreadingWebSocketServer(("127.0.0.1", 0), Echo)
    if max_connections is not None:
        server.max_connections = max_connections
    return server


def main(argv: list[str]) -> None:
    """Bind, print the URL, serve until SIGTERM. ``raw --max-connections N`` sets the limit."""
    kind = argv[0]
    limit = int(argv[argv.index("--max-connections") + 1]) if "--max-connections" in argv else None
    server = raw_server(limit) if kind == "raw" else BareServer(("127.0.0.1", 0), BareEcho)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"Listening on ws://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
