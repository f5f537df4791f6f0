"""The hixie-75 draft (and the framing draft-76 shares): 0x00 text 0xFF frames, no closing frame.

Legacy, and off unless ``allow_drafts=True``: these frames are unmasked and the handshake proves
little, which is why websocket-driver 0.8 disabled them by default.
"""

from __future__ import annotations

from typing import Generator

from ..errors import ProtocolError
from ..events import MessageEvent, ReadyState
from ..rfc6455 import CloseCode, Opcode
from .base import Driver, Parser
from .http import Headers, Request, serialize_head
from .message import decode_text

TEXT_FRAME_START = 0x00  # draft-hixie-thewebsocketprotocol-76 section 4.2
TEXT_FRAME_END = 0xFF
LENGTH_FRAME_BIT = 0x80  # a frame type with the high bit set carries a length prefix
CLOSING_FRAME = b"\xff\x00"  # draft-76 section 4.2: 0xFF followed by a 0x00 length
LENGTH_CONTINUES = 0x80
LENGTH_DIGIT = 0x7F
_EXCLUDED = frozenset({"upgrade", "connection"})


def extra_headers(headers: Headers) -> list[tuple[str, str]]:
    """The user's extra response headers, minus the ones the handshake writes itself."""
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in _EXCLUDED and not name.lower().startswith("sec-websocket")
    ]


class Draft75Server(Driver):
    """Server side of draft-hixie-75: opens as soon as its response is written."""

    version = "hixie-75"

    def __init__(self, request: Request, url: str, *, protocol: str, headers: Headers,
                 max_length: int) -> None:
        super().__init__(max_length=max_length)
        self.request = request
        self.url = url
        self.protocol = protocol
        self._extra = extra_headers(headers)

    def _response_head(self) -> bytes:
        fields = [("Upgrade", "WebSocket"), ("Connection", "Upgrade"),
                  ("WebSocket-Origin", self.request.headers.get("Origin", "") or ""),
                  ("WebSocket-Location", self.url)]
        if self.protocol:
            fields.append(("WebSocket-Protocol", self.protocol))
        return serialize_head("HTTP/1.1 101 Web Socket Protocol Handshake", fields + self._extra)

    def start(self) -> None:
        """Write the response and open."""
        if self.state is ReadyState.CONNECTING:
            self._write(self._response_head())
            self._open()

    def _parse(self) -> Parser:
        while self.state is ReadyState.CONNECTING:
            yield
        yield from self._hixie_frames()

    def _hixie_frames(self) -> Parser:
        while self.state is not ReadyState.CLOSED:
            frame_type = (yield from self._reader.read_exact(1))[0]
            if frame_type & LENGTH_FRAME_BIT:
                length = yield from self._read_length()
                if frame_type == TEXT_FRAME_END and length == 0:
                    self._on_closing_frame()
                    return
                if length > self.max_length:
                    raise ProtocolError("WebSocket frame length too large", CloseCode.MESSAGE_TOO_BIG)
                yield from self._reader.read_exact(length)  # binary frames are read and dropped
            else:
                data = yield from self._reader.read_until(TEXT_FRAME_END, self.max_length)
                if frame_type == TEXT_FRAME_START and self.state is ReadyState.OPEN:
                    self._emit(MessageEvent(decode_text(data)))

    def _read_length(self) -> Generator[None, None, int]:
        length = 0
        while True:
            byte = (yield from self._reader.read_exact(1))[0]
            length = length * 128 + (byte & LENGTH_DIGIT)
            if length > self.max_length + 1:
                raise ProtocolError("WebSocket frame length too large", CloseCode.MESSAGE_TOO_BIG)
            if not byte & LENGTH_CONTINUES:
                return length

    def _on_closing_frame(self) -> None:
        self._finish(CloseCode.NORMAL_CLOSURE, "", clean=True)

    def _send_message(self, opcode: Opcode, payload: bytes) -> bool:
        if opcode is not Opcode.TEXT:
            return False  # the drafts have no binary messages; the original dropped them too
        self._write(bytes((TEXT_FRAME_START,)) + payload + bytes((TEXT_FRAME_END,)))
        return True

    def _send_close(self, code: int, reason: str) -> None:
        # draft-75 has no closing handshake: closing the TCP connection is the close.
        self._finish(code, reason, clean=True)
