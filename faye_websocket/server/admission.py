"""Admission for thread-per-connection servers: a connection limit answered with a fast 503, a
pause instead of a spin when the process is out of descriptors or threads, and one overload line
per interval instead of a traceback per connection.

``AdmissionMixIn`` goes before ``socketserver.ThreadingMixIn`` in a server's bases (both of the
package's servers have it). It changes three things of socketserver's accept loop:

- ``max_connections``: a connection accepted beyond it gets ``503 Service Unavailable`` with
  ``Retry-After`` written on the accepting thread without blocking, and is closed: no thread is
  started for it. ``None`` (the default) means ``DEFAULT_MAX_CONNECTIONS``, or fewer when the
  descriptor limit (``RLIMIT_NOFILE`` minus a reserve) leaves fewer, so that the limit is met
  before ``accept`` fails; a number is used as given.
- ``accept`` failing with EMFILE/ENFILE/ENOBUFS/ENOMEM, or a handler thread that cannot start,
  pauses accepting (``ACCEPT_PAUSE`` seconds, or until a connection ends) instead of returning at
  once to a listening socket that is still readable: socketserver spun at 100% CPU there. A
  connection whose thread could not start is answered 503 like one over the limit.
- what was refused is counted and logged once per ``overload_log_interval`` seconds (one line,
  with counts), at WARNING on the ``faye_websocket`` logger.

A TLS listener (the socket accepted is an ``ssl.SSLSocket`` whose handshake has not run) gets no
503, only the close: an answer in the clear would not be HTTP to a TLS client.

One more setting is the interpreter's, not the server's: ``switch_interval``. CPython makes a
thread that waits for the interpreter lock wake every switch interval (5 ms by default) and ask
the holder to give it up. The threads of a thread-per-connection server block in I/O almost all
the time, until thousands of them wake at once (their clients vanished together): then each of
them wakes 200 times a second, and the forced hand-offs and wake-ups took both cores, for 13 to
60 s before a new client was answered with 3,000 connections (0.2 s with a 50 ms interval, which
the bare reference server did not need because its threads hold the lock for microseconds).
``serve_forever()`` therefore raises the process's switch interval to ``switch_interval``
(50 ms; never lowers it; None leaves it alone). The cost: a handler that computes in Python
without doing I/O may keep another ready thread waiting up to that long.
"""

from __future__ import annotations

import errno
import logging
import math
import resource
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections import deque
from typing import Any

from ..driver.http import STATUS_SERVICE_UNAVAILABLE, error_response

logger = logging.getLogger("faye_websocket")

# Threads, not sockets, are what a thread-per-connection server runs out of first: 4096 idle
# connections hold about 170 MB (42 KB each, measured) and as many threads.
DEFAULT_MAX_CONNECTIONS = 4096
RETRY_AFTER = 5  # seconds a refused client is asked to wait (RFC 9110 section 10.2.3)
ACCEPT_PAUSE = 0.5  # seconds accepting pauses when out of descriptors or threads, unless one ends
OVERLOAD_LOG_INTERVAL = 10.0  # seconds between two overload lines
SWITCH_INTERVAL = 0.05  # seconds; see the module docstring (CPython's default is 0.005)
DESCRIPTOR_RESERVE = 64  # descriptors kept for the listener, logs, files, TLS duplicates, the watcher
# accept(2) errors that mean "the process (or the system) is out of a resource": retry later.
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def descriptor_limit() -> int:
    """This process's soft RLIMIT_NOFILE (a large number when unlimited)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def effective_limit(max_connections: int | None) -> int:
    """``max_connections`` itself, or for None the default bounded by the descriptor limit."""
    if max_connections is not None:
        return max_connections
    return max(1, min(DEFAULT_MAX_CONNECTIONS, descriptor_limit() - DESCRIPTOR_RESERVE))


class OverloadLog:
    """Counts refusals by reason and logs them at most once per interval; any thread.

    The first refusal after a quiet interval is logged at once (the overload has begun); the
    ones that follow within the interval are counted and logged together by the first
    ``note`` or ``tick`` after it has passed, and by ``flush``.
    """

    def __init__(self, interval: float = OVERLOAD_LOG_INTERVAL) -> None:
        self._lock = threading.Lock()  # owner: this object; guards _counts and _logged_at
        self._counts: dict[str, int] = {}
        self.totals: dict[str, int] = {}  # since the server started (tests, monitoring)
        self._interval = interval
        self._logged_at = -math.inf

    def note(self, reason: str, detail: str = "") -> None:
        """Count one refusal for ``reason`` (``detail`` says why); log if the interval has passed."""
        with self._lock:
            key = f"{reason} ({detail})" if detail else reason
            self._counts[key] = self._counts.get(key, 0) + 1
            self.totals[reason] = self.totals.get(reason, 0) + 1
        self.tick()

    def tick(self) -> None:
        """Log what was counted if the interval has passed since the last line (cheap otherwise)."""
        if not self._counts:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._logged_at < self._interval or not self._counts:
                return
            counts, self._counts = self._counts, {}
            seconds = min(now - self._logged_at, self._interval)
            self._logged_at = now
        self._emit(counts, seconds)

    def flush(self) -> None:
        """Log what was counted since the last line, whatever the interval (on shutdown)."""
        with self._lock:
            counts, self._counts = self._counts, {}
            seconds = min(time.monotonic() - self._logged_at, self._interval)
            self._logged_at = time.monotonic()
        if counts:
            self._emit(counts, seconds)

    @staticmethod
    def _emit(counts: dict[str, int], seconds: float) -> None:
        summary = ", ".join(f"{count} {key}" for key, count in sorted(counts.items()))
        logger.warning("faye_websocket: server overloaded (last %.0f s): %s", seconds, summary)


class AdmissionMixIn:
    """Connection limit, fast 503 and accept pausing for a ``socketserver.ThreadingMixIn`` server.

    Class attributes (override in a subclass or set on the instance before serving):
    ``max_connections`` (None: ``DEFAULT_MAX_CONNECTIONS`` or what the descriptor limit leaves),
    ``retry_after`` (seconds in the 503's ``Retry-After``), ``overload_log_interval`` (seconds
    between overload lines), ``switch_interval`` (the interpreter's, raised when serving starts;
    None: left alone).
    ``active_connections`` is the number of connections with a handler thread now.
    """

    max_connections: int | None = None
    retry_after: int = RETRY_AFTER
    overload_log_interval: float = OVERLOAD_LOG_INTERVAL
    switch_interval: float | None = SWITCH_INTERVAL

    def _admission_init(self) -> None:
        # The count is kept by the accepting thread alone; handler threads that end append a
        # token to _ended (deque.append is atomic), which the accepting thread drains. A lock
        # shared by every handler's last step made a convoy when thousands ended at once.
        self._admitted = 0
        self._ended: deque[None] = deque()
        self._admission_cond = threading.Condition()  # owner: the accepting thread's pauses
        self._accept_paused = False  # set under _admission_cond while the accept loop waits
        self._admission_stopping = False
        self.overload = OverloadLog(self.overload_log_interval)
        # (family, type, proto) of the plain listening socket, once socket.accept's own way may be
        # skipped (see _accept); None until the first accept, False when it may not.
        self._accept_kind: tuple[int, int, int] | None | bool = None

    @property
    def active_connections(self) -> int:
        """Connections with a handler thread now (exact on the accepting thread)."""
        return self._admitted - len(self._ended)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Raise the interpreter's switch interval (see the module docstring), then serve."""
        if self.switch_interval is not None and sys.getswitchinterval() < self.switch_interval:
            sys.setswitchinterval(self.switch_interval)
        super().serve_forever(poll_interval)  # type: ignore[misc]

    def get_request(self) -> tuple[Any, Any]:
        """Accept; when out of descriptors, pause before returning to the accept loop."""
        try:
            return self._accept()
        except OSError as error:
            if error.errno in EXHAUSTED:
                self.overload.note("accept failed", errno.errorcode.get(error.errno or 0, "?"))
                self._pause_accepting()
            raise

    def _accept(self) -> tuple[Any, Any]:
        """socketserver's accept; for a plain listener, socket.accept() without asking the
        listener its family and type each time (two enum conversions: a dozen Python calls per
        connection on the accepting thread, which every connection waits for)."""
        kind = self._accept_kind
        if kind is None:
            kind = self._accept_kind = _plain_accept_kind(self)
        if kind is False:
            return super().get_request()  # type: ignore[misc, no-any-return]
        listener: socket.socket = self.socket  # type: ignore[attr-defined]
        fd, address = listener._accept()  # type: ignore[attr-defined]
        sock = socket.socket(*kind, fileno=fd)  # type: ignore[misc]
        # as socket.accept(): a listener with a timeout must not pass non-blocking to the socket
        if socket.getdefaulttimeout() is None and listener.gettimeout():
            sock.setblocking(True)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a handler thread, or answer 503 at once when full (or the thread cannot start)."""
        self.overload.tick()
        while self._ended:  # only this thread takes tokens out
            self._ended.popleft()
            self._admitted -= 1
        admitted = self._admitted < effective_limit(self.max_connections)
        if admitted:
            self._admitted += 1
        else:
            self.overload.note("refused with 503", "connection limit")
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)  # type: ignore[misc]
        except RuntimeError:  # "can't start new thread": the process or its cgroup is at its limit
            self._left()
            self.overload.note("refused with 503", "no thread")
            self._refuse(request)
            self._pause_accepting()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """The handler thread's body (ThreadingMixIn's), counting the connection out at its end."""
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            self._left()

    def shutdown(self) -> None:
        """Stop serve_forever (a paused accept loop wakes at once)."""
        with self._admission_cond:
            self._admission_stopping = True
            self._admission_cond.notify_all()
        super().shutdown()  # type: ignore[misc]

    def server_close(self) -> None:
        """Log the overload counted since the last line, then close the listener."""
        self.overload.flush()
        super().server_close()  # type: ignore[misc]

    def shutdown_request(self, request: Any) -> None:
        """End a finished connection; nothing to do when its WebSocket has closed the socket."""
        fileno = getattr(request, "fileno", None)
        if callable(fileno) and fileno() == -1:
            return  # closed already: shutdown would only fail (EBADF) and cost a system call
        super().shutdown_request(request)  # type: ignore[misc]

    def _left(self) -> None:
        self._ended.append(None)
        if self._accept_paused:  # only then is anyone waiting to hear of it
            with self._admission_cond:
                self._admission_cond.notify_all()

    def _pause_accepting(self) -> None:
        """Wait until a connection ends (a descriptor and a thread come back), or ACCEPT_PAUSE."""
        with self._admission_cond:
            if not self._admission_stopping:
                self._accept_paused = True
                try:
                    self._admission_cond.wait(ACCEPT_PAUSE)
                finally:
                    self._accept_paused = False

    def _refuse(self, request: socket.socket) -> None:
        """503 without blocking (none over TLS), then close; runs on the accepting thread."""
        if not isinstance(request, ssl.SSLSocket):
            answer = error_response(STATUS_SERVICE_UNAVAILABLE, "Server is too busy",
                                    [("Retry-After", str(self.retry_after))])
            answer_and_close(request, answer)
        else:
            close_quietly(request)


def _plain_accept_kind(server: Any) -> tuple[int, int, int] | bool:
    """The listener's (family, type, proto) when accepting is socket.socket.accept() on a plain
    socket (socketserver.TCPServer's get_request, not overridden below AdmissionMixIn), else False."""
    listener = getattr(server, "socket", None)
    if type(listener) is not socket.socket:
        return False  # a TLS listener, a wrapper: its own accept()
    mro = type(server).__mro__
    below = mro[mro.index(AdmissionMixIn) + 1:]
    owner = next((cls for cls in below if "get_request" in vars(cls)), None)
    if owner is not socketserver.TCPServer:
        return False
    return listener.family, listener.type, listener.proto


def answer_and_close(sock: socket.socket, response: bytes) -> None:
    """Write a short canned response without blocking, end our side, drop what the client sent.

    The FIN follows the response, and reading what already arrived before the close keeps the
    kernel from answering it with a reset that could destroy the response on its way.
    """
    try:
        sock.send(response, socket.MSG_DONTWAIT)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536, socket.MSG_DONTWAIT)
    except OSError:
        pass  # the client is gone or has not sent anything yet: nothing more to do
    close_quietly(sock)


def close_quietly(sock: socket.socket) -> None:
    """Close ``sock``; never raises."""
    try:
        sock.close()
    except OSError:
        pass
