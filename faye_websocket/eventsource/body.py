"""HTTP/1.1 response body framing for a streaming reader (RFC 9112 sections 6 and 7).

A streamed response arrives in one of three framings: chunked (what nginx and WSGI servers use),
a Content-Length, or "until the connection closes" (what faye's EventSource writes). The decoder
turns wire bytes into body bytes and says when the body has ended. Sans-I/O: bytes in, bytes out.
"""

from __future__ import annotations

from enum import Enum

from ..driver.http import Headers
from ..errors import ProtocolError

MAX_CHUNK_LINE = 4096  # a chunk-size line with extensions; RFC 9112 sets no limit, we need one
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class _Stage(Enum):
    SIZE = "size"  # reading a chunk-size line
    DATA = "data"  # reading chunk data
    DATA_END = "data-end"  # reading the CRLF after chunk data
    TRAILER = "trailer"  # reading trailer lines until an empty one
    DONE = "done"


class BodyDecoder:
    """Decodes a response body; ``feed`` returns body bytes, ``done`` is True once it has ended.

    Build one with ``for_response(headers)``. Raises ProtocolError on malformed chunked framing.
    """

    def __init__(self, *, chunked: bool = False, length: int | None = None) -> None:
        self._chunked = chunked
        self._remaining = length
        self._stage = _Stage.SIZE if chunked else _Stage.DATA
        self._buffer = bytearray()
        if length == 0 and not chunked:
            self._stage = _Stage.DONE

    @classmethod
    def for_response(cls, headers: Headers) -> BodyDecoder:
        """The decoder RFC 9112 section 6.3 picks: chunked, then Content-Length, else until EOF."""
        if "chunked" in headers.tokens("Transfer-Encoding"):
            return cls(chunked=True)
        length = headers.get("Content-Length")
        # isascii: str.isdigit() is also true for "²", which int() then refuses with a ValueError
        if length is not None and length.strip().isascii() and length.strip().isdigit():
            return cls(length=int(length.strip()))
        return cls()

    @property
    def done(self) -> bool:
        """True when the framing says the body is complete (never for an until-EOF body)."""
        return self._stage is _Stage.DONE

    def feed(self, data: bytes) -> bytes:
        """Consume wire bytes; returns the body bytes among them. Bytes after the end are ignored."""
        if not self._chunked:
            return self._feed_plain(data)
        self._buffer += data
        out = bytearray()
        while self._stage is not _Stage.DONE and self._step(out):
            pass
        return bytes(out)

    def _feed_plain(self, data: bytes) -> bytes:
        if self._remaining is None:
            return data
        taken = data[: self._remaining]
        self._remaining -= len(taken)
        if self._remaining == 0:
            self._stage = _Stage.DONE
        return taken

    def _step(self, out: bytearray) -> bool:
        """Advance one stage if the buffer allows; False when more bytes are needed."""
        if self._stage is _Stage.DATA:
            assert self._remaining is not None
            taken = bytes(self._buffer[: self._remaining])
            del self._buffer[: len(taken)]
            out += taken
            self._remaining -= len(taken)
            if self._remaining:
                return False
            self._stage = _Stage.DATA_END
            return True
        line = self._take_line()
        if line is None:
            return False
        if self._stage is _Stage.SIZE:
            self._start_chunk(line)
        elif self._stage is _Stage.DATA_END:
            if line:
                raise ProtocolError("chunked body: chunk data not followed by CRLF")
            self._stage = _Stage.SIZE
        elif not line:  # an empty line ends the trailer section
            self._stage = _Stage.DONE
        return True

    def _take_line(self) -> bytes | None:
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > MAX_CHUNK_LINE:
                raise ProtocolError("chunked body: line too long")
            return None
        line = bytes(self._buffer[:end]).rstrip(b"\r")
        del self._buffer[: end + 1]
        return line

    def _start_chunk(self, line: bytes) -> None:
        size_text = line.split(b";", 1)[0].strip().decode("latin-1")
        if not size_text or not set(size_text) <= _HEX_DIGITS:
            raise ProtocolError(f"chunked body: invalid chunk size line {line!r}")
        size = int(size_text, 16)
        if size == 0:
            self._stage = _Stage.TRAILER
        else:
            self._remaining = size
            self._stage = _Stage.DATA
