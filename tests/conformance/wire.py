"""A deliberately separate, minimal WebSocket wire codec for the conformance harness.

The harness must judge faye_websocket, so it does not use faye_websocket's own frame code: frames
are built and read here with struct, the way Autobahn's fuzzers do it, and the handshake is a
few lines of hashlib. Blocking reads on a socket with a deadline; nothing here is clever.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time
import zlib
from dataclasses import dataclass

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0
RSV1 = 0x4
DEFLATE_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 section 7.2.1


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = False,
    length: int | None = None,
) -> bytes:
    """One frame; ``length`` overrides the declared length (for malformed-frame cases)."""
    declared = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    if declared < 126:
        head += bytes([bit | declared])
    elif declared < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", declared)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", declared)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack(">H", code) + reason


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes
    masked: bool


class Peer:
    """A socket with a receive buffer and deadlines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.eof = False

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.eof:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            return False
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def read_exact(self, n: int, deadline: float) -> bytes | None:
        while len(self.buffer) < n:
            if not self._fill(deadline):
                return None
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_head(self, deadline: float) -> bytes | None:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill(deadline):
                return None
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    def read_frame(self, deadline: float) -> Frame | None:
        """The next frame, unmasked; None on EOF or timeout (``self.eof`` tells which)."""
        head = self.read_exact(2, deadline)
        if head is None:
            return None
        length = head[1] & 0x7F
        if length == 126:
            raw = self.read_exact(2, deadline)
            length = struct.unpack(">H", raw)[0] if raw else 0
        elif length == 127:
            raw = self.read_exact(8, deadline)
            length = struct.unpack(">Q", raw)[0] if raw else 0
        masked = bool(head[1] & 0x80)
        key = self.read_exact(4, deadline) if masked else b""
        payload = self.read_exact(length, deadline)
        if payload is None or key is None:
            return None
        if masked:
            payload = (
                bytes(b ^ key[i % 4] for i, b in enumerate(payload))
                if length < 4096
                else _fast_unmask(payload, key)
            )
        return Frame(bool(head[0] & 0x80), (head[0] >> 4) & 0x7, head[0] & 0xF, payload, masked)

    def wait_eof(self, deadline: float) -> bool:
        while not self.eof:
            if not self._fill(deadline) and not self.eof:
                return False
        return True

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False


def _fast_unmask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ mask).to_bytes(n, "big")


class Deflater:
    """Server-side permessage-deflate for the compression cases (RFC 7692 section 7.2.1)."""

    def __init__(self, window_bits: int, no_context_takeover: bool) -> None:
        self.window_bits = max(window_bits, 9)  # zlib cannot write 8-bit raw deflate windows
        self.no_context_takeover = no_context_takeover
        self._compress = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.window_bits)

    def compress(self, data: bytes) -> bytes:
        out = self._compress.compress(data) + self._compress.flush(zlib.Z_SYNC_FLUSH)
        if self.no_context_takeover:
            self._compress = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.window_bits)
        return out[:-4] if out.endswith(DEFLATE_TAIL) else out


class Inflater:
    """Inflates the client's compressed messages; a fresh context when it promised no takeover."""

    def __init__(self, no_context_takeover: bool, window_bits: int = 15) -> None:
        self.no_context_takeover = no_context_takeover
        self.window_bits = max(window_bits, 9)  # as for writing, zlib reads 8-bit windows as 9
        self._inflate = zlib.decompressobj(-self.window_bits)

    def inflate(self, data: bytes) -> bytes:
        out = self._inflate.decompress(data + DEFLATE_TAIL)
        if self.no_context_takeover:
            self._inflate = zlib.decompressobj(-self.window_bits)
        return out
