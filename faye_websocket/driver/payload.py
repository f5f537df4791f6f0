"""A large frame's payload received in place: read into one buffer, never concatenated read by read.

A frame whose payload is at least ``LARGE_PAYLOAD`` bytes (a read's worth) and has not fully
arrived is collected here instead of in the parser's buffer: the I/O layer reads straight into
``writable()`` (``socket.recv_into``), bytes fed the ordinary way are copied in, and the message
is taken out in one copy (``bytes`` for binary, decoded straight from the buffer for text),
unmasked in place first if the frame was masked (RFC 6455 section 5.3). Growing the parser's
buffer a read at a time, then cutting the payload out of it, cost a fresh payload-sized buffer
twice per message, and a fresh megabyte costs about as much in page faults as masking it.

The buffer grows as bytes arrive (doubling, up to the declared length), so a peer that declares a
huge frame and sends little makes us hold little (the memory budget charges ``held``); buffers up
to ``POOL_MAX_BYTES`` go back to a small process-wide pool once their message is taken, so the
next large message reuses memory that is already mapped.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from .frames import mask_into

LARGE_PAYLOAD = 65536  # bytes: a payload at least one read long (net.transport.RECV_SIZE)
POOL_BUFFERS = 4  # buffers kept for reuse, process-wide
POOL_MAX_BYTES = 4 << 20  # a larger buffer is let go: the pool holds at most 16 MiB
_pool: list[bytearray] = []  # list.append and list.pop are atomic: no lock (the core has none)


def _borrow(size: int) -> bytearray:
    """A buffer of at least ``size`` bytes, from the pool when it has one that large."""
    try:
        buffer = _pool.pop()
    except IndexError:
        return bytearray(size)
    if len(buffer) >= size:
        return buffer
    _give_back(buffer)
    return bytearray(size)


def _give_back(buffer: bytearray) -> None:
    if len(buffer) <= POOL_MAX_BYTES and len(_pool) < POOL_BUFFERS:
        _pool.append(buffer)


class LargePayload:
    """The payload of one frame, ``length`` bytes, masked with ``key`` (None: not masked);
    ``first`` is the frame's first header byte. ``initial`` holds the bytes that came with the
    header. Not thread-safe: the driver's caller serialises calls."""

    __slots__ = ("first", "length", "filled", "_key", "_buffer")

    def __init__(
        self, first: int, length: int, key: bytes | None, initial: bytes | bytearray | memoryview
    ) -> None:
        self.first = first
        self.length = length
        self._key = key
        self._buffer = _borrow(min(length, max(2 * len(initial), 2 * LARGE_PAYLOAD)))
        self.filled = len(initial)
        self._buffer[: self.filled] = initial

    @property
    def complete(self) -> bool:
        """True once all ``length`` bytes are in."""
        return self.filled >= self.length

    @property
    def held(self) -> int:
        """Bytes of memory this payload holds (its buffer), for the memory budget."""
        return len(self._buffer)

    def writable(self) -> memoryview:
        """Where the next bytes go (at most the rest of the payload): grows the buffer first when
        it is full. Release the view (or let it go) before calling anything else here."""
        if self.filled == len(self._buffer):
            self._grow()
        return memoryview(self._buffer)[self.filled : min(len(self._buffer), self.length)]

    def wrote(self, count: int) -> None:
        """``count`` bytes were written into ``writable()``."""
        self.filled += count

    def add(self, data: bytes | bytearray | memoryview) -> int:
        """Copy in what ``data`` holds of the payload; returns how many bytes were taken."""
        take = min(len(data), self.length - self.filled)
        while take and len(self._buffer) < self.filled + take:
            self._grow()
        self._buffer[self.filled : self.filled + take] = data[:take]
        self.filled += take
        return take

    def _grow(self) -> None:
        bigger = _borrow(min(self.length, 2 * len(self._buffer)))
        bigger[: self.filled] = memoryview(self._buffer)[: self.filled]
        _give_back(self._buffer)
        self._buffer = bigger

    def take_bytes(self) -> bytes:
        """The complete payload, unmasked; the buffer goes back to the pool (this object is spent)."""
        with self._unmasked() as payload:
            return bytes(payload)

    def take_text(self) -> str:
        """The complete payload, unmasked, decoded as UTF-8 straight from the buffer (no bytes
        copy first); UnicodeDecodeError if it is not UTF-8. Spends this object too."""
        with self._unmasked() as payload:
            return str(payload, "utf-8")

    @contextlib.contextmanager
    def _unmasked(self) -> Iterator[memoryview]:
        buffer, self._buffer = self._buffer, bytearray()
        try:
            if self._key is not None:
                mask_into(buffer, 0, buffer, self._key, self.length)  # in place
            with memoryview(buffer) as view, view[: self.length] as payload:
                yield payload
        finally:
            _give_back(buffer)
