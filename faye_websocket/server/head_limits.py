"""A deadline and a size cap for every request head an http.server handler reads.

http.server reads a head line by line with no deadline for the whole of it and up to 100 lines
of 64 KiB: 2,000 connections sending a byte a second were never cut, and 200 connections each
holding a 6 MB head pinned 1.16 GB. ``WebSocketHTTPServer`` therefore gives every handler class a
guarded subclass (``guarded_handler``): before each request its ``rfile`` reads the head under a
deadline (``head_timeout`` seconds for the whole head, from the wait for its first byte) and a
cap on the head's total size (``max_head_size`` bytes). When either is passed the client gets
``408 Request Timeout`` or ``431 Request Header Fields Too Large`` (RFC 9110 section 15.5.9,
RFC 6585 section 5) and the connection is closed; a connection that sent nothing at all (an idle
keep-alive) is closed without an answer. Once the head is read the guard steps aside: the body,
a WebSocket or an event stream read the same buffered reader as before.
"""

from __future__ import annotations

import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from ..driver.http import (
    MAX_HEAD_SIZE,
    STATUS_HEADERS_TOO_LARGE,
    STATUS_REQUEST_TIMEOUT,
    error_response,
    find_head_end,
)
from .request_head import parse_common_request

DEFAULT_HEAD_TIMEOUT = 10.0  # seconds for a whole request head: the WebSocket's handshake_timeout
# A head's read may end this share of the time left after its deadline (see HeadGuard._peek).
TIMEOUT_SLACK = 0.05
ANSWER_TIMEOUT = 1.0  # seconds the 408/431 answer may take to write before we just close
REQUEST_TIMEOUT = error_response(STATUS_REQUEST_TIMEOUT, "Request head not complete in time")
HEAD_TOO_LARGE = error_response(STATUS_HEADERS_TOO_LARGE, "Request head too large")


class HeadTimeout(Exception):
    """The request head did not arrive within its deadline."""


class HeadTooLarge(Exception):
    """The request head is larger than the cap."""


class HeadGuard:
    """A handler's ``rfile`` that bounds each request head in time and size while armed.

    Everything but ``readline`` goes straight to the wrapped buffered reader, and so does
    ``readline`` once the head is read (``disarm``). Used on the handler's thread only.
    """

    def __init__(self, rfile: Any, sock: socket.socket) -> None:
        self._rfile = rfile
        self._sock = sock
        self._deadline: float | None = None
        self._left = 0
        self._saved_timeout: float | None = None
        self._timeout_set: float | None = None  # the socket's timeout now (None: blocking)
        self.received = 0  # head bytes read since arm()
        # Bytes the reader held when the whole head was found buffered, minus what has been read
        # since (see buffered_bytes); None when unknown.
        self._buffered: int | None = None
        # Bytes of such a head not read yet (see buffered_head); None when it was not found whole.
        self._head_left: int | None = None

    def arm(self, timeout: float, limit: int) -> None:
        """Start a head: ``timeout`` seconds and ``limit`` bytes for all of it."""
        self._saved_timeout = self._timeout_set = self._sock.gettimeout()
        self._buffered = self._head_left = None
        self._deadline = time.monotonic() + timeout
        self._left = limit
        self.received = 0

    def disarm(self) -> None:
        """The head is read: later reads are the body's (the socket's own timeout again)."""
        if self._deadline is not None:
            self._deadline = None
            if self._timeout_set == self._saved_timeout:
                return  # _peek left it as it was (each settimeout is a system call)
            try:
                self._sock.settimeout(self._saved_timeout)
            except OSError:
                pass

    def readline(self, size: int | None = -1) -> bytes:
        """One line, bounded by the head's deadline and what is left of its size cap."""
        if self._deadline is None:
            read = bytes(self._rfile.readline(size))
            if self._buffered is not None:
                self._buffered -= len(read)
            if self._head_left is not None:
                self._head_left -= len(read)
            return read
        limit = size if size is not None and size >= 0 else None
        chunk = self._peek()
        if not self.received:
            whole = find_head_end(chunk)
            if whole is not None and whole[1] <= self._left:
                # The head's first read brought all of it, within the cap (the common request):
                # nothing is left to wait for, so its lines are read as they are, unguarded.
                # http.server stops at the same blank line (RFC 9112 section 2.2: CRLF or LF).
                self.received = self._head_left = whole[1]
                self._buffered = len(chunk)  # peek gives all that is buffered, reading nothing
                self.disarm()
                return self.readline(size)
        end = chunk.find(b"\n")
        if 0 <= end < self._left and (limit is None or end < limit):
            # The common line: already buffered whole, within the caps; one read takes it.
            self._left -= end + 1
            self.received += end + 1
            return bytes(self._rfile.read(end + 1))
        line = bytearray()
        while limit is None or len(line) < limit:
            chunk = self._peek()
            if not chunk:
                break  # EOF: http.server sees a short line and closes
            end = chunk.find(b"\n")
            take = len(chunk) if end < 0 else end + 1
            if limit is not None:
                take = min(take, limit - len(line))
            if take > self._left:
                raise HeadTooLarge(f"request head over {self.received + self._left} bytes")
            line += self._rfile.read(take)
            self._left -= take
            self.received += take
            if end >= 0 and take == end + 1:
                break
        return bytes(line)

    def _peek(self) -> bytes:
        assert self._deadline is not None
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise HeadTimeout("request head not complete in time")
        # A head's lines mostly come from one read already buffered: the timeout (a system
        # call to set) is set again only once it is off by more than TIMEOUT_SLACK of the time
        # left, so a read may end that much after the deadline. The socket's own timeout counts
        # too: the command line's server has just set one as long as the head's.
        current = self._timeout_set
        if current is None or abs(current - remaining) > remaining * TIMEOUT_SLACK:
            self._sock.settimeout(remaining)
            self._timeout_set = remaining
        try:
            return bytes(self._rfile.peek(1))
        except TimeoutError:
            raise HeadTimeout("request head not complete in time") from None

    def buffered_bytes(self) -> int | None:
        """How many bytes the reader holds past what has been read, when known without a system
        call (just after a head that arrived whole: ``take_buffered`` asks); None otherwise."""
        buffered = self._buffered
        return buffered if buffered is not None and buffered >= 0 else None

    def buffered_head(self) -> bytes | None:
        """The rest of the current head (field lines and blank line), when the head arrived whole
        and only its request line has been read: shown, not read (no system call). Else None."""
        left = self._head_left
        if not left or self._buffered is None:
            return None
        data = self._rfile.peek(left)
        return bytes(data[:left]) if len(data) >= left else None

    def skip_head(self, count: int) -> None:
        """Read ``count`` bytes that ``buffered_head`` showed (parsed by its caller)."""
        read = len(self._rfile.read(count))
        if self._buffered is not None:
            self._buffered -= read
        if self._head_left is not None:
            self._head_left -= read

    def __getattr__(self, name: str) -> Any:
        self._buffered = self._head_left = None  # a read through the wrapped reader: no longer known
        return getattr(self._rfile, name)

    def __iter__(self) -> Any:
        self._buffered = None
        return iter(self._rfile)


class GuardedHandler(BaseHTTPRequestHandler):
    """The mix-in ``guarded_handler`` puts in front of a handler class (see the module docstring).

    ``head_timeout`` and ``max_head_size`` come from the server when it has them
    (``WebSocketHTTPServer`` does), else from the handler class, else ``DEFAULT_HEAD_TIMEOUT``
    and ``MAX_HEAD_SIZE`` (the limit the raw socketserver path's driver applies too). The mix-in
    defines no attribute of its own, so a handler's own settings are never shadowed.
    """

    def setup(self) -> None:
        """The handler's own setup (a TLS handshake), then the guard around its ``rfile``."""
        super().setup()
        connection = getattr(self, "connection", None)  # a setup() that refused the connection
        if isinstance(connection, socket.socket) and hasattr(self.rfile, "peek"):  # made none
            self.rfile = HeadGuard(self.rfile, connection)  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        """One request, its head read under the deadline and the cap; 408/431 otherwise."""
        guard = self.rfile
        if not isinstance(guard, HeadGuard):
            super().handle_one_request()
            return
        guard.arm(_setting(self, "head_timeout", DEFAULT_HEAD_TIMEOUT),
                  _setting(self, "max_head_size", MAX_HEAD_SIZE))
        try:
            super().handle_one_request()
        except HeadTimeout:
            self._give_up(REQUEST_TIMEOUT if guard.received else None, "head timeout")
        except HeadTooLarge:
            self._give_up(HEAD_TOO_LARGE, "head too large")
        finally:
            guard.disarm()

    def parse_request(self) -> bool:
        """http.server's parse (the headers are read in it), or the same done in a few calls for
        a common head that arrived whole (see request_head.py); then the guard steps aside."""
        try:
            guard = self.rfile
            if isinstance(guard, HeadGuard) and parse_common_request(self, guard):
                return True
            return super().parse_request()
        finally:
            guard = self.rfile
            if isinstance(guard, HeadGuard):
                guard.disarm()

    def _give_up(self, answer: bytes | None, reason: str) -> None:
        self.close_connection = True
        note = getattr(getattr(self.server, "overload", None), "note", None)
        if callable(note):
            note("cut", reason)
        if answer is None:
            return
        try:
            self.connection.settimeout(ANSWER_TIMEOUT)
            self.connection.sendall(answer)
        except OSError:
            pass  # the client is gone or reads nothing: closing is all that is left


def _setting(handler: BaseHTTPRequestHandler, name: str, default: Any) -> Any:
    value = getattr(handler.server, name, None)
    return value if value is not None else getattr(handler, name, default)


_GUARDED: dict[type, type] = {}


def guarded_handler(handler_class: Callable[..., Any]) -> Callable[..., Any]:
    """``handler_class`` with the head guard in front (the same class object for the same input).

    A class that already has the guard is returned as it is; anything that is not a
    ``BaseHTTPRequestHandler`` subclass (a factory) is returned unchanged.
    """
    if not isinstance(handler_class, type) or not issubclass(handler_class, BaseHTTPRequestHandler):
        return handler_class
    if issubclass(handler_class, GuardedHandler):
        return handler_class
    guarded = _GUARDED.get(handler_class)
    if guarded is None:
        namespace = {"__module__": handler_class.__module__, "__qualname__": handler_class.__qualname__,
                     "__doc__": handler_class.__doc__}
        guarded = type(handler_class.__name__, (GuardedHandler, handler_class), namespace)
        _GUARDED[handler_class] = guarded
    return guarded
