"""The EventSource writer: a Server-Sent Events stream on a socket taken over from an HTTP server.

``EventSource(request, sock)`` writes the response head and ``retry`` at once, then ``send()``
writes events straight to the socket, writers taking turns (``write_turn``); a slow client slows
the sender, and nothing is queued. The common event costs its formatting and one ``send`` system
call: a plain socket stays blocking and is written with one ``sendall``, whose waits for room
the kernel bounds (SO_SNDTIMEO: ``send_timeout``, or three ping intervals when sooner); a
Python socket timeout would make CPython poll before every send. TLS streams, and writes after
a broadcast turn left bytes, wait through ``net.transport`` instead. The shared watcher thread
(``eventsource.watcher``) notices a client that goes away by EOF, without waiting for the next
write, and sends the keep-alive pings; a failed write also closes the stream. The close event
fires exactly once, and the socket is closed before it does.
"""

from __future__ import annotations

import functools
import math
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from ..api import EventTarget
from ..connection.connection import DEFAULT_SEND_TIMEOUT
from ..connection.nowait import WriteNowait, send_some
from ..driver.http import Request
from ..events import CloseEvent, ReadyState
from ..net.deadline import check_duration
from ..net.transport import SocketTransport, timeval, wrap_socket
from ..server.takeover import RequestSource, request_from, set_nodelay, shutdown_tcp
from . import wire
from .watcher import WATCHER
from .write_turn import WriteTurn

_DRAIN_SIZE = 4096  # bytes read at a time from a client that should send nothing
STALLED_PINGS = 3  # ping intervals a write may block before the client counts as gone
_OPEN = ReadyState.OPEN  # a module global: an enum attribute lookup costs more than the check
_CLOSED = ReadyState.CLOSED
# Where MSG_DONTWAIT is missing (Windows) every write waits through the transport: the short path
# relies on SO_SNDTIMEO and the departure check on a read that does not wait.
_HAS_DONTWAIT = hasattr(socket, "MSG_DONTWAIT")
_DEFAULT_START = wire.stream_start()  # the head and retry of a stream with the default options


class EventSource(EventTarget):
    """A Server-Sent Events stream written to ``sock`` for ``request``.

    The constructor writes ``HTTP/1.1 200 OK``, faye's headers, ``headers`` and ``retry: <ms>``
    (``retry`` in seconds; None omits it); if that write fails the stream starts CLOSED. ``ping``
    is the keep-alive comment interval in seconds (None or 0: no pings). ``send_timeout``
    (seconds, 30 by default as the WebSocket's; None: no limit) bounds how long a write may make
    no progress: a client that stops reading is cut then, and ``send()`` returns False; with pings
    on, a write blocked for three ping intervals is cut sooner. ``nodelay`` (True, as faye)
    turns Nagle's algorithm off so that every event leaves at once; ``nodelay=False`` leaves the
    socket as the server made it (Nagle on, for http.server), for bulk streams: events written
    back to back then share segments, which costs the writer and the reader less per event, but
    a small event may wait for the previous one's acknowledgement. ``url`` and
    ``last_event_id`` describe the request: a ``Request``, or the ``BaseHTTPRequestHandler`` or
    WSGI environ it came from, which is then read only when one of them is first asked for
    (``from_handler`` passes its handler: most streams never ask). Every method is safe from any
    thread. Raises ValueError for a bad option or custom header, TypeError for a ``nodelay``
    that is not a bool or another kind of ``request``.

    Behind nginx with its default ``proxy_buffering on``, events wait in nginx's buffer until it
    fills; pass ``headers={"X-Accel-Buffering": "no"}`` (or turn buffering off for the location).
    The head is faye's, byte for byte, so that header is not sent unless asked for.

    Listeners: ``on("close", fn)``, ``once``, ``off`` and ``onclose`` (``api.EventTarget``); the
    close event (``CloseEvent`` with code None, as the original's) runs on the thread that closed
    the stream: the caller of ``close()``/``send()``, or the shared watcher thread.
    """

    def __init__(
        self,
        request: RequestSource,
        sock: socket.socket,
        *,
        headers: wire.HeaderInput = None,
        ping: float | None = wire.DEFAULT_PING,
        retry: float | None = wire.DEFAULT_RETRY,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
        nodelay: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(request, (Request, BaseHTTPRequestHandler, Mapping)):
            request_from(request)  # raises its TypeError for anything else
        # A float in range (the defaults) is what check_duration would return: not calling it
        # spares two calls a stream.
        if type(ping) is not float or not 0.0 < ping < math.inf:
            ping = check_duration("ping", ping, zero_disables=True)
        self._ping = ping
        if type(send_timeout) is not float or not 0.0 < send_timeout < math.inf:
            send_timeout = check_duration("send_timeout", send_timeout)
        self._send_timeout = send_timeout
        if nodelay is not True and nodelay is not False:
            raise TypeError(f"nodelay must be True or False, not {nodelay!r}")
        if headers is None and retry is wire.DEFAULT_RETRY:
            head = _DEFAULT_START
        else:
            head = wire.stream_start(headers, retry)
        self._sock = sock
        self._request = request  # parsed by url or last_event_id, if ever (http.server's headers
        # cost about 18 us to copy: more than the rest of the stream's Python set-up)
        self._url: str | None = None  # url and last_event_id: computed on first use
        self._last_event_id: str | None = None
        # The plain socket (None for TLS: SSLSocket.send takes no flags). It stays blocking, as
        # PlainSocketTransport keeps it, so that CPython does not poll before a send.
        self._plain: socket.socket | None = None
        # What a write waits through when the kernel does not take it all; made on first use for
        # a plain socket (most streams never wait), at once for TLS (it makes the socket
        # non-blocking). Its send timeout gives each wait for room all of it, so the timeout
        # measures progress, not the time a large event takes.
        self._transport: SocketTransport | None = None
        if not _HAS_DONTWAIT or isinstance(sock, ssl.SSLSocket):
            self._waiting_transport()
        else:
            if sock.gettimeout() is not None:  # settimeout costs a system call even when unchanged
                sock.settimeout(None)
            # The kernel bounds each blocking send instead: no progress for this long fails the
            # send with EAGAIN (socket(7), SO_SNDTIMEO), which closes the stream.
            set_send_timeout(sock, stall_limit(self._ping, self._send_timeout))
            self._plain = sock
        # The plain socket while a write may go straight to it with one try (the stream open,
        # nothing left by a broadcast turn), else None: the one check of the common write.
        # Changed with the turn held (and set to None as the stream closes).
        self._fast = self._plain
        self._state = ReadyState.CONNECTING
        # True until close() pops it, atomically under the interpreter lock: the move to CLOSED
        # happens once (a lock cost more to make and take, once per stream).
        self._closing = [True]
        self._turn = WriteTurn()  # owner: writers; serialises bytes on the socket
        self._token = self._turn.token  # its token list, which the hot path pops and appends itself
        # Monotonic start of a write waiting for room (or of bytes left by a turn that could not
        # finish); None while nothing waits. A write the kernel takes at once never sets it.
        self._writing_since: float | None = None
        self._rest = bytearray()  # what a write_nowait turn left unwritten; written first by any write
        # Held from here until close() releases it: wait() takes and gives it back. A Lock where
        # a threading.Event costs ten times as much to make, set and wait on (about 4 us a stream).
        self._open = threading.Lock()
        self._open.acquire()
        self._watch = sock if self._plain is not None else watch_view(sock)
        if nodelay:
            set_nodelay(sock)
        self._state = _OPEN
        if self._write(head):
            first_ping = time.monotonic() + self._ping if self._ping else None
            WATCHER.add(self, first_ping)

    @classmethod
    def from_handler(cls, handler: BaseHTTPRequestHandler, **options: Any) -> EventSource:
        """Take over a ``BaseHTTPRequestHandler``'s connection and start a stream on it.

        http.server writes nothing more on the connection (``close_connection`` is set), and the
        handler's ``finish`` waits until the stream is closed, so the handler method may return
        while other threads keep sending. Options are those of the constructor.
        """
        handler.close_connection = True
        handler.wfile.flush()
        stream = cls(handler, handler.connection, **options)
        finish = handler.finish

        def finish_after_stream() -> None:
            try:
                stream.wait()
                finish()
            finally:
                # The override refers to the handler (through ``finish``): dropping it breaks
                # that cycle, so the handler, its request and the stream are freed as soon as
                # http.server lets go, not by a garbage collection.
                handler.__dict__.pop("finish", None)

        setattr(handler, "finish", finish_after_stream)  # noqa: B010 - an instance override
        track = getattr(handler.server, "track_event_source", None)
        if callable(track):
            track(stream)  # WebSocketHTTPServer closes live streams when it shuts down
        return stream

    @staticmethod
    def is_event_source(source: RequestSource) -> bool:
        """True for a GET whose ``Accept`` lists ``text/event-stream`` (media-type parameters allowed).

        ``source`` is a ``Request``, a ``BaseHTTPRequestHandler`` or a WSGI environ.
        """
        return wire.is_event_source(request_from(source))

    @property
    def url(self) -> str:
        """``http[s]://<Host header><target>`` of the request, as the original's ``url``."""
        if self._url is None:
            request = request_from(self._request)
            self._url = wire.request_url(request, secure=isinstance(self._sock, ssl.SSLSocket))
        return self._url

    @property
    def last_event_id(self) -> str:
        """The reader's ``Last-Event-ID`` header, else its ``lastEventId`` query parameter, else ""."""
        if self._last_event_id is None:
            self._last_event_id = wire.last_event_id(request_from(self._request))
        return self._last_event_id

    @property
    def ready_state(self) -> ReadyState:
        """OPEN while the stream can be written, CLOSED after (there is no CLOSING)."""
        return self._state

    def send(self, message: str, *, event: str | None = None, id: str | int | None = None) -> bool:
        """Write one event; True once the bytes are handed to the kernel, False if closed.

        Blocks while the client's TCP window is full; a write that makes no progress for
        ``send_timeout`` closes the stream (the client takes nothing) and returns False. A failed
        write closes the stream too. Raises TypeError/ValueError as
        ``driver.eventsource.format_event`` does (checked before anything is written).
        """
        # The common event costs one Python frame: wire.format_event's one-line case and _write
        # are inlined here; the two calls were about a third of the event's instructions.
        if (event is None and id is None and type(message) is str
                and "\n" not in message and "\r" not in message):
            data = f"data: {message}\r\n\r\n".encode()
        else:
            data = wire.format_event(message, event=event, id=id)
        token = self._token
        try:
            token.pop()  # from here to the return, _write's body
        except IndexError:
            self._turn.take()
        try:
            fast = self._fast
            if fast is not None:
                try:
                    fast.sendall(data)
                    return True
                except OSError:
                    pass
            elif self._state is not _OPEN:
                return False
            elif self._write_rest(data):
                return True
        finally:
            token.append(True)
            if self._turn.waiting:
                self._turn.wake()
        self.close()
        return False

    def ping(self) -> bool:
        """Write a comment line (``:``), which keeps proxies from timing the stream out."""
        return self._write(wire.PING_COMMENT)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stream is closed (or ``timeout`` seconds pass); True if it is closed."""
        if timeout is None:
            closed = self._open.acquire()
        elif timeout > 0:
            closed = self._open.acquire(True, timeout)
        else:
            closed = self._open.acquire(False)  # as threading.Event.wait: a timeout <= 0 only looks
        if closed:
            self._open.release()  # for the next waiter
        return closed

    def close(self) -> bool:
        """End the stream: close the socket, then fire the close event. False if already closed.

        A write blocked on another thread is woken (it returns False).
        """
        try:
            self._closing.pop()
        except IndexError:
            return False  # closed already, or closing on another thread
        self._state = _CLOSED
        self._fast = None
        WATCHER.remove(self)
        shutdown_tcp(self._sock)  # wakes a writer blocked in sendall
        self._turn.take()
        try:
            self._fast = None  # again with the turn held: no turn restores it once CLOSED
            self._rest.clear()
            self._sock.close()
            if self._watch is not self._sock:
                self._watch.close()
        finally:
            self._turn.give()
        self._open.release()
        # The event object is made only for someone to see it (a frozen dataclass costs about
        # a tenth of a short stream's set-up); it still fires exactly once, and a subclass that
        # dispatches events itself always gets it.
        if (self.onclose is not None or self._listeners.get("close")
                or type(self).dispatch_event is not EventTarget.dispatch_event):
            self.dispatch_event(CloseEvent(None))
        return True

    def __enter__(self) -> EventSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _write(self, data: bytes) -> bool:
        """Write ``data`` whole (any thread); False if the stream is, or gets, closed. ``send``
        repeats this body inline: a change here belongs there too."""
        token = self._token
        try:
            token.pop()  # WriteTurn.take(), inlined
        except IndexError:
            self._turn.take()  # another thread writes: wait for its turn to end
        try:
            # The short path (open, plain, nothing left by a broadcast turn): one blocking
            # sendall, which the kernel's send timeout (SO_SNDTIMEO) bounds.
            fast = self._fast
            if fast is not None:
                try:
                    fast.sendall(data)
                    return True
                except OSError:  # broken, shut down by close(), or stalled (EAGAIN)
                    pass
            elif self._state is not _OPEN:
                return False
            elif self._write_rest(data):
                return True
        finally:
            token.append(True)  # WriteTurn.give(), inlined
            if self._turn.waiting:
                self._turn.wake()
        self.close()
        return False

    def _write_rest(self, data: bytes) -> bool:
        """The slow write (the turn held; TLS, or bytes a broadcast turn left): those bytes,
        then ``data``, waiting for room for up to ``send_timeout`` at a time. The watcher sees
        the wait start (its stall rule); False once the connection is broken or stalled."""
        if self._rest:
            data = bytes(self._rest) + data
            self._rest.clear()
            self._fast = self._plain if self._state is _OPEN else None
        self._writing_since = time.monotonic()
        try:
            self._waiting_transport().sendall(data)
            return True
        except OSError:
            return False
        finally:
            self._writing_since = None

    def _waiting_transport(self) -> SocketTransport:
        """The transport for writes that may wait (made on first use; the turn held, or in the
        constructor): ``net.transport``'s for the socket, with the stream's send timeout."""
        transport = self._transport
        if transport is None:
            transport = self._transport = wrap_socket(self._sock)
            transport.settimeout(self._send_timeout)
        return transport

    def write_nowait(self, data: bytes | None = None) -> WriteNowait:
        """One write turn that never waits, for the broadcast writer; any thread.

        Writes what the socket takes now of the bytes an earlier turn left, then of ``data``
        (formatted events); the rest is kept and written first by the next write of any kind.
        Returns BUSY (nothing done) while another thread writes, CLOSED once closed (a failed
        write closes the stream), PENDING while bytes are left, DONE otherwise.
        """
        if not self._turn.try_take():
            return WriteNowait.BUSY
        try:
            if self._state is not _OPEN:
                return WriteNowait.CLOSED
            return self._write_some(data)
        except OSError:
            pass
        finally:
            self._turn.give()
        self.close()
        return WriteNowait.CLOSED

    def _write_some(self, data: bytes | None) -> WriteNowait:
        """``write_nowait``'s turn, with the turn held; raises OSError on a broken connection."""
        if data:
            self._rest += data
            self._fast = None  # the rest goes first: every write takes the slow path until it has
        if not self._rest:
            return WriteNowait.DONE
        with memoryview(self._rest) as view:
            sent = send_some(self._waiting_transport(), view)
        del self._rest[:sent]
        # The watcher's stall rule (STALLED_PINGS) counts from the last progress.
        if not self._rest:
            self._writing_since = None
            self._fast = self._plain if self._state is _OPEN else None
        elif sent or self._writing_since is None:
            self._writing_since = time.monotonic()
        return WriteNowait.PENDING if self._rest else WriteNowait.DONE

    # The watcher thread's side (eventsource_watcher.Watched); none of these may block.

    def watch_fileno(self) -> int:
        """The descriptor the watcher polls (a plain view of a TLS socket), -1 once closed."""
        return self._watch.fileno()

    def on_readable(self) -> None:
        """Drain bytes the client should not send; EOF or a reset closes the stream."""
        if peer_gone(self._watch):
            self.close()

    def on_ping_timer(self, now: float) -> float | None:
        """Ping unless a write is in progress or the socket is full; close a stalled client."""
        assert self._ping is not None
        started = self._writing_since
        stalled_after = stall_limit(self._ping, self._send_timeout)
        assert stalled_after is not None
        if started is not None and now - started > stalled_after:
            self.close()  # the client takes nothing: a write has blocked past the limit
            return None
        if not self._turn.try_take():
            return now + self._ping  # a write is in progress, which keeps the stream alive
        try:
            if self._state is not _OPEN:
                return None
            # Never inside an unfinished event: bytes left by an earlier turn go first instead.
            # What the socket does not take now stays for the next write (or the next ping), and
            # the stall rule above counts from then.
            self._write_some(None if self._rest else wire.PING_COMMENT)
            failed = False
        except OSError:
            failed = True
        finally:
            self._turn.give()
        if failed:
            self.close()
            return None
        return now + self._ping


def set_send_timeout(sock: socket.socket, seconds: float | None) -> None:
    """Make each blocking send on ``sock`` fail (EAGAIN, after what it wrote) once it has waited
    ``seconds`` for room (SO_SNDTIMEO, socket(7)); None leaves sends unbounded. Never raises."""
    if seconds is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, send_timeval(seconds))
    except OSError:
        pass  # not a socket that takes the option: writes wait as long as the peer does


@functools.lru_cache(maxsize=32)
def send_timeval(seconds: float) -> bytes:
    """``seconds`` as the ``struct timeval`` of SO_SNDTIMEO (``net.transport.timeval``). Cached:
    streams share a few values."""
    return timeval(seconds)


def stall_limit(ping: float | None, send_timeout: float | None) -> float | None:
    """Seconds a write may block before the client counts as gone: ``send_timeout``, or three
    ping intervals when that is sooner (None: no limit)."""
    by_pings = STALLED_PINGS * ping if ping is not None else None
    if by_pings is None or send_timeout is None:
        return by_pings if send_timeout is None else send_timeout
    return min(by_pings, send_timeout)


def peer_gone(view: socket.socket) -> bool:
    """Read what is waiting on ``view`` without blocking; True at EOF or on a reset.

    An event-stream client sends nothing after its request, so whatever arrives is dropped.
    A socket with a timeout (a handler class's ``timeout``) makes CPython poll before ``recv``
    despite MSG_DONTWAIT, so readiness is checked first with a zero-timeout poll.
    """
    fd = view.fileno()
    if fd < 0:
        return True  # closed by the stream's close() before the watcher dropped it
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        return not view.recv(_DRAIN_SIZE, socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError, TimeoutError):
        return False
    except OSError:
        return True


def watch_view(sock: socket.socket) -> socket.socket:
    """The socket to poll for EOF: ``sock`` itself, or a plain duplicate of a TLS socket.

    TLS sockets refuse ``recv`` flags, and the TLS layer must not be read on the watcher thread
    while another thread writes; the client sends nothing we need (at most a close_notify).
    """
    if isinstance(sock, ssl.SSLSocket):
        return socket.socket(sock.family, sock.type, sock.proto, fileno=socket.dup(sock.fileno()))
    return sock

