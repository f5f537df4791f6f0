"""An incremental byte reader: parsers are generators that ``yield`` until enough bytes arrived.

A parser written as ``data = yield from reader.read_exact(n)`` reads like blocking code, yet it is
driven by ``receive_data`` one chunk at a time, so any split of the input, down to one byte at a
time, gives the same result (faye-websocket-node #48 was a frame split across two TCP reads).
Nothing is allocated ahead of the bytes that actually arrived.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generator

from ..errors import MessageTooLarge
from .http import STATUS_HEADERS_TOO_LARGE, HeadError, find_head_end

if TYPE_CHECKING:
    from .payload import LargePayload

Step = Generator[None, None, bytes]


class StreamReader:
    """A growing buffer that generator parsers consume from the front."""

    def __init__(self) -> None:
        # bytearray deletes from the front in amortised O(1) in CPython, so consuming many small
        # frames from one large read stays linear.
        self.buffer = bytearray()
        self.eof = False
        # A large frame's payload being received apart from the buffer (driver/payload.py): the
        # bytes fed go to it first, until it is complete.
        self.payload: LargePayload | None = None

    def feed_data(self, data: bytes) -> None:
        """Append bytes received from the peer (the rest of a large payload's first)."""
        payload = self.payload
        if payload is not None and not payload.complete:
            taken = payload.add(data)
            if taken == len(data):
                return
            with memoryview(data) as view:
                self.buffer += view[taken:]
            return
        self.buffer += data

    def feed_eof(self) -> None:
        """Record that no more bytes will come; a waiting read then raises EOFError."""
        self.eof = True

    def _wait(self) -> Generator[None, None, None]:
        if self.eof:
            raise EOFError("stream ended")
        yield

    def read_exact(self, n: int) -> Step:
        """Wait for exactly ``n`` bytes and consume them."""
        while len(self.buffer) < n:
            yield from self._wait()
        return self._take(n, n)

    def _take(self, length: int, consumed: int) -> bytes:
        """The first ``length`` bytes as bytes (one copy, through a view), dropping ``consumed``."""
        with memoryview(self.buffer) as view:
            data = view[:length].tobytes()
        del self.buffer[:consumed]
        return data

    def read_until(self, terminator: int, limit: int) -> Step:
        """Consume bytes up to the byte ``terminator`` (dropped); MessageTooLarge past ``limit``."""
        searched = 0
        while True:
            end = self.buffer.find(terminator, searched)
            if end >= 0:
                break
            searched = len(self.buffer)
            if searched > limit:
                raise MessageTooLarge("WebSocket frame length too large")
            yield from self._wait()
        if end > limit:
            raise MessageTooLarge("WebSocket frame length too large")
        return self._take(end, end + 1)

    def read_head(self, limit: int) -> Step:
        """Consume an HTTP head up to and including its blank line; returns it without the blank line."""
        searched = 0
        while True:
            found = find_head_end(self.buffer, max(0, searched - 3))
            if found is not None:
                break
            searched = len(self.buffer)
            if searched > limit:
                raise HeadError("HTTP head too large", STATUS_HEADERS_TOO_LARGE)
            yield from self._wait()
        head_end, body_start = found
        if head_end > limit:
            raise HeadError("HTTP head too large", STATUS_HEADERS_TOO_LARGE)
        return self._take(head_end, body_start)

    def take_all(self) -> bytes:
        """Consume and return everything buffered."""
        data = bytes(self.buffer)
        self.buffer.clear()
        return data
