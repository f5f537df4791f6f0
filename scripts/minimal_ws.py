#!/usr/bin/env python3
"""The minimal reference of scripts/bench_hotpath.py: what plain, thread-per-connection Python costs.

A WebSocket echo server, a WebSocket client and an event-stream writer in the fewest lines that
still do the protocol's work (handshake, unmasking, UTF-8 decoding of text, pings, closing,
permessage-deflate without context takeover on the client side). No options, no timeouts, no
error reporting: it is a yardstick for the benchmark, not a library, and not used by any test.

    python scripts/minimal_ws.py server PORT     WebSocket echo on every path
    python scripts/minimal_ws.py sse PORT        event stream: GET /?n=N&m=TEXT sends N events
    python scripts/minimal_ws.py sse-nodelay PORT   the same with TCP_NODELAY on, as our EventSource
                                                    (and faye's) sets it: every event its own segment
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"  # RFC 6455 section 1.3
TAIL = b"\x00\x00\xff\xff"  # RFC 7692 section 7.2.1


def mask(data: bytes, key: bytes) -> bytes:
    """XOR with the repeated 4-byte key, as one big integer."""
    n = len(data)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(n, "little")


def header(opcode: int, length: int, rsv1: bool = False, masked: bool = False) -> bytes:
    """The frame header, FIN set."""
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    bit = 0x80 if masked else 0
    if length < 126:
        return bytes((first, bit | length))
    if length < 65536:
        return bytes((first, bit | 126)) + length.to_bytes(2, "big")
    return bytes((first, bit | 127)) + length.to_bytes(8, "big")


def parse(buf: bytearray, pos: int) -> tuple[int, int, bool, bool, bytes] | None:
    """(next position, opcode, fin, rsv1, unmasked payload) of the frame at pos, None if incomplete."""
    if len(buf) - pos < 2:
        return None
    first, second = buf[pos], buf[pos + 1]
    length, at = second & 0x7F, pos + 2
    if length == 126:
        if len(buf) - pos < 4:
            return None
        length, at = int.from_bytes(buf[at : at + 2], "big"), at + 2
    elif length == 127:
        if len(buf) - pos < 10:
            return None
        length, at = int.from_bytes(buf[at : at + 8], "big"), at + 8
    key = b""
    if second & 0x80:
        key, at = bytes(buf[at : at + 4]), at + 4
    if len(buf) < at + length:
        return None
    payload = bytes(buf[at : at + length])
    data = mask(payload, key) if key else payload
    return at + length, first & 0x0F, bool(first & 0x80), bool(first & 0x40), data


def read_head(sock: socket.socket) -> tuple[bytes, bytearray]:
    """The HTTP head and whatever followed it."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    return head, bytearray(rest)


def fields(head: bytes) -> dict[str, str]:
    """Header fields, lower-cased names."""
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}


class Peer:
    """One side of a connection after the handshake: messages in, messages out."""

    def __init__(self, sock: socket.socket, rest: bytearray, *, client: bool, deflate: bool) -> None:
        self.sock, self.buf, self.client, self.deflate = sock, rest, client, deflate
        self.pos = 0
        self.parts: list[bytes] = []
        self.compressor = zlib.compressobj(wbits=-15) if deflate else None
        self.closed = False

    def frame(self, opcode: int, payload: bytes) -> bytes:
        """One whole frame: compressed when deflate is on, masked by a client."""
        rsv1 = False
        if self.compressor is not None and opcode < 8:
            payload = self.compressor.compress(payload) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
            payload, rsv1 = payload[:-4], True
        if not self.client:
            return header(opcode, len(payload), rsv1) + payload
        key = os.urandom(4)
        return header(opcode, len(payload), rsv1, True) + key + mask(payload, key)

    def send(self, message: str | bytes) -> None:
        """Write one message."""
        opcode, data = (1, message.encode()) if isinstance(message, str) else (2, message)
        self.sock.sendall(self.frame(opcode, data))

    def messages(self, replies: list[bytes]) -> list[str | bytes]:
        """Complete messages in the buffer; pongs and close echoes go to ``replies``."""
        out: list[str | bytes] = []
        while (frame := parse(self.buf, self.pos)) is not None:
            self.pos, opcode, fin, rsv1, payload = frame
            if opcode == 9:
                replies.append(self.frame(10, payload))
            elif opcode == 8:
                replies.append(self.frame(8, payload[:2]))
                self.closed = True
                break
            elif opcode < 8:
                self.parts.append(payload)
                if opcode:
                    self.opcode, self.rsv1 = opcode, rsv1
                if fin:
                    data = b"".join(self.parts)
                    self.parts = []
                    if self.rsv1:
                        data = zlib.decompressobj(wbits=-15).decompress(data + TAIL)
                    out.append(data.decode() if self.opcode == 1 else data)
        del self.buf[: self.pos]
        self.pos = 0
        return out

    def fill(self) -> bool:
        """Read once; False at EOF."""
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)


def serve_connection(sock: socket.socket) -> None:
    """Handshake, then echo every message; one write per read."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        head, rest = read_head(sock)
        headers = fields(head)
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
        deflate = "permessage-deflate" in headers.get("sec-websocket-extensions", "")
        offer = b"Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"
        extra = offer if deflate else b""
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n")
        peer = Peer(sock, rest, client=False, deflate=deflate)
        while not peer.closed:
            replies: list[bytes] = []
            for message in peer.messages(replies):
                opcode, data = (1, message.encode()) if isinstance(message, str) else (2, message)
                replies.append(peer.frame(opcode, data))
            if replies:
                sock.sendall(b"".join(replies))
            if not peer.closed and not peer.fill():
                break
    except (OSError, KeyError, UnicodeDecodeError, zlib.error):
        pass
    finally:
        sock.close()


def serve(port: int) -> None:
    """Accept forever on 127.0.0.1:port, one thread per connection."""
    listener = socket.create_server(("127.0.0.1", port), backlog=1024)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(sock,), daemon=True).start()


class Client:
    """A blocking client: ``send`` writes one message, ``recv`` returns the next one."""

    def __init__(self, host: str, port: int, path: str = "/") -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + f"{host}:{port}".encode()
                          + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
                          + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head, rest = read_head(self.sock)
        if b" 101 " not in head.split(b"\r\n")[0] + b" ":
            raise ConnectionError(head.decode("latin-1"))
        self.peer = Peer(self.sock, rest, client=True, deflate=False)
        self.inbox: list[str | bytes] = []

    def send(self, message: str | bytes) -> None:
        """Write one message."""
        self.peer.send(message)

    def recv(self) -> str | bytes:
        """The next message; ConnectionError once closed."""
        while not self.inbox:
            replies: list[bytes] = []
            self.inbox = self.peer.messages(replies)
            if replies:
                self.sock.sendall(b"".join(replies))
            if self.peer.closed:
                raise ConnectionError("closed")
            if not self.inbox and not self.peer.fill():
                raise ConnectionError("closed")
        return self.inbox.pop(0)

    def close(self) -> None:
        """Closing handshake, then wait for the server to end TCP."""
        self.sock.sendall(self.peer.frame(8, (1000).to_bytes(2, "big")))
        try:
            while self.sock.recv(65536):
                pass
        finally:
            self.sock.close()


class StreamHandler(BaseHTTPRequestHandler):
    """An event stream written with plain http.server: the head, then one write per event."""

    nodelay = False  # sse-nodelay: Nagle off, the socket contract of our EventSource and faye's

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        query = parse_qs(urlsplit(self.path).query)
        count, message = int(query.get("n", ["1000"])[0]), query.get("m", ["x"])[0]
        self.close_connection = True
        if self.nodelay:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Cache-Control: no-cache, no-store\r\nConnection: close\r\n\r\nretry: 5000\r\n\r\n")
        for _ in range(count):
            self.connection.sendall(f"data: {message}\r\n\r\n".encode())

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]))
    else:
        StreamHandler.nodelay = sys.argv[1] == "sse-nodelay"
        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer.request_queue_size = 1024
        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), StreamHandler).serve_forever()
