"""Reassembly of a fragmented data message (RFC 6455 section 5.4), with fail-fast UTF-8."""

from __future__ import annotations

import codecs

from ..errors import InvalidPayload
from ..rfc6455 import Opcode
from .frames import Frame

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
NOT_UTF8 = "Could not decode a text frame as UTF-8"


def decode_text(data: bytes) -> str:
    """Strict UTF-8 decoding of a whole text message; InvalidPayload (1007) if it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload(NOT_UTF8) from None


class MessageAssembler:
    """The frames of one message so far.

    With ``decode`` set (text, and no extension to transform the payload first), each fragment is
    decoded as it arrives, so invalid UTF-8 fails the connection at the first bad fragment, not
    after the whole message (Autobahn case 6.4: "fail fast").
    """

    def __init__(self, first: Frame, *, decode: bool) -> None:
        self.opcode = first.opcode
        self.rsv = (first.rsv1, first.rsv2, first.rsv3)
        self.length = 0
        self._decoder = _Utf8Decoder() if decode and first.opcode is Opcode.TEXT else None
        self._text: list[str] = []
        self._data: list[bytes] = []

    def add(self, payload: bytes, final: bool) -> None:
        """Append one fragment's payload; raises InvalidPayload on bad UTF-8 when decoding."""
        self.length += len(payload)
        if self._decoder is None:
            self._data.append(payload)
            return
        try:
            self._text.append(self._decoder.decode(payload, final))
        except UnicodeDecodeError:
            raise InvalidPayload(NOT_UTF8) from None

    @property
    def decoded(self) -> bool:
        """True when the payload was decoded on the fly (``text()`` holds the message)."""
        return self._decoder is not None

    def text(self) -> str:
        """The decoded text of a complete message."""
        return self._text[0] if len(self._text) == 1 else "".join(self._text)

    def data(self) -> bytes:
        """The raw payload of a complete message."""
        return self._data[0] if len(self._data) == 1 else b"".join(self._data)
