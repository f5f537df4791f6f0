"""The hixie-76 draft: key1/key2 challenge with an 8-byte body, and the 0xFF 0x00 closing frame.

The 8 body bytes ("key3") may come with the head, after it, or split; the response's 16-byte
digest is written, and the connection opens, only once all 8 have arrived.
"""

from __future__ import annotations

import hashlib
import struct

from ..errors import HandshakeError
from ..events import ReadyState
from ..rfc6455 import CloseCode
from .base import Parser
from .draft75 import CLOSING_FRAME, Draft75Server
from .http import STATUS_BAD_REQUEST, Headers, Request, serialize_head

KEY3_LENGTH = 8  # draft-hixie-thewebsocketprotocol-76 section 1.3
MAX_KEY_VALUE = 0xFFFFFFFF  # the quotient must fit in 32 bits (section 5.2, step 4)
INVALID_KEYS = "Client sent invalid Sec-WebSocket-Key headers"


def draft76_key_number(value: str | None) -> int:
    """The 32-bit number of a Sec-WebSocket-Key1/2 header: its digits divided by its spaces.

    HandshakeError (400) when the header is missing, has no spaces, or does not divide evenly:
    the original crashed on such keys (faye-websocket-node #47).
    """
    if value is None:
        raise HandshakeError("Missing required header: Sec-WebSocket-Key1/Key2", STATUS_BAD_REQUEST)
    digits = "".join(c for c in value if c.isascii() and c.isdigit())
    spaces = value.count(" ")
    if not digits or spaces == 0 or len(digits) > 10:
        raise HandshakeError(INVALID_KEYS, STATUS_BAD_REQUEST)
    number = int(digits)
    if number % spaces or number // spaces > MAX_KEY_VALUE:
        raise HandshakeError(INVALID_KEYS, STATUS_BAD_REQUEST)
    return number // spaces


def challenge_response(key1: int, key2: int, key3: bytes) -> bytes:
    """MD5 over the two 32-bit big-endian key numbers and the 8 body bytes."""
    return hashlib.md5(struct.pack(">II", key1, key2) + key3).digest()


class Draft76Server(Draft75Server):
    """Server side of draft-hixie-76."""

    version = "hixie-76"

    def __init__(self, request: Request, url: str, keys: tuple[int, int], *, protocol: str,
                 headers: Headers, max_length: int) -> None:
        super().__init__(request, url, protocol=protocol, headers=headers, max_length=max_length)
        self._keys = keys
        self._started = False

    def _response_head(self) -> bytes:
        fields = [("Upgrade", "WebSocket"), ("Connection", "Upgrade"),
                  ("Sec-WebSocket-Origin", self.request.headers.get("Origin", "") or ""),
                  ("Sec-WebSocket-Location", self.url)]
        if self.protocol:
            fields.append(("Sec-WebSocket-Protocol", self.protocol))
        return serialize_head("HTTP/1.1 101 WebSocket Protocol Handshake", fields + self._extra)

    def start(self) -> None:
        """Write the response head; the digest and the open wait for the 8 key bytes."""
        if not self._started and self.state is ReadyState.CONNECTING:
            self._started = True
            self._write(self._response_head())
            self._advance()

    def _parse(self) -> Parser:
        while not self._started:
            yield
        key3 = yield from self._reader.read_exact(KEY3_LENGTH)
        self._write(challenge_response(*self._keys, key3))
        self._open()
        yield from self._hixie_frames()

    def _on_closing_frame(self) -> None:
        if self.state is ReadyState.OPEN:
            self._write(CLOSING_FRAME)
        self._finish(CloseCode.NORMAL_CLOSURE, "", clean=True)

    def _send_close(self, code: int, reason: str) -> None:
        self._write(CLOSING_FRAME)
        self._finish(code, reason, clean=True)
