"""The blocking I/O loop of one WebSocket connection: read, feed the driver, write, dispatch.

A ``Connection`` owns a sans-I/O driver (``faye_websocket.driver``) and a ``Transport``
(``faye_websocket.net.transport``). It moves bytes between them, keeps the deadlines the protocol
needs (opening handshake, closing handshake, ping interval and pong timeout), and hands every
event to one callback, ``on_event``, which the public API (``api.py``) turns into listener calls.

Who reads
    Exactly one thread at a time reads the socket: it holds ``_read_lock``. That is the thread
    inside ``run()`` (the reader loop), or, when nobody runs that loop, the thread calling
    ``recv()`` (or a blocking ``close()``). The reading thread is also the only one that
    dispatches events, so listeners see events in order and never concurrently.

Who writes
    Every byte the driver produces goes, under ``_lock``, onto the outbox in the order the driver
    made it. Whoever holds ``_write_lock`` drains the outbox onto the transport. ``send`` and
    ``ping`` wait for the write lock, so they return only once their frame is written (a slow
    peer slows the sender; nothing piles up). The reading thread and ``close()`` never wait for
    the write lock: if another thread is writing, that thread writes their bytes too. This keeps
    the reader draining the socket while a sender is stuck on a full peer, so two peers that
    both send a lot cannot deadlock, and ``close()`` never blocks on a dead peer.

Locks (names and owners)
    ``_lock`` guards the driver, the outbox and the event list; held only for driver calls.
    ``_write_lock`` serialises transport writes. ``_read_lock`` marks the reading thread.
    Listeners never run under any of them.

Timers
    The reading thread computes the nearest deadline and uses it as its ``poll`` timeout, so no
    timer thread is needed (with no deadline armed it skips the poll and blocks in ``recv``).
    The one case it cannot see is ``close()`` called from another thread while the reader sleeps
    with a later (or no) deadline; for that, one process-wide watchdog thread (``watchdog.Watchdog``)
    shuts the socket down when the close deadline passes, which wakes the reader.

How a client plugs in (faye_websocket/client.py)
    Build ``Connection(driver, None, side=Side.CLIENT, on_event=..., reader_thread=True)`` in
    the constructor: ``send``/``close`` work at once (the driver queues sends until open; a close
    while CONNECTING aborts and dispatches the close event on the calling thread). On the
    client's own thread, after TCP, proxy and TLS are ready, call ``attach(transport, leftover)``
    (it calls ``driver.start()``, writes the request head, feeds bytes already read past a proxy
    reply) and then ``run()``, which returns once the connection is CLOSED and the transport
    closed. ``attach`` returns False if the connection was closed meanwhile (the transport is
    closed for you). For a blocking ``connect()`` without a thread, pass
    ``reader_thread=False``, call ``attach``, then ``wait_open(timeout)``; ``recv()`` then reads
    the socket on the caller's thread. Pass ``has_message_listener=api._has_message_listener``
    so that, with a reader thread, messages nobody listens for are kept for ``recv()``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import socket
import threading
import time
from collections import deque
from enum import Enum
from typing import Callable, Iterator, Protocol

from ..errors import ConnectionClosed, InvalidState
from ..events import CloseEvent, ErrorEvent, Event, MessageEvent, ReadyState
from ..net.deadline import check_durations
from ..net.transport import RECV_SIZE, Transport
from ..rfc6455 import CloseCode
from .nowait import WriteNowait, send_some
from .recv_queue import RecvQueue
from .timers import Timers, earliest
from .watchdog import Watchdog, WatchdogEntry

logger = logging.getLogger("faye_websocket")

WRITE_CHUNK = 256 * 1024  # each sendall gets its own send timeout, so the timeout measures progress
# The reader stops and waits for the writer once this many bytes of its own replies (pongs, close
# echoes) are queued behind another thread's write (a peer that floods pings and reads nothing).
# Other threads' messages do not count: each of those threads waits for its own write.
OUTBOX_SOFT_LIMIT = 1 << 20
RECV_QUEUE_SIZE = 64  # messages the reader thread may hold for recv() before it stops reading
CLIENT_EOF_WAIT = 2.0  # RFC 6455 section 7.1.1: the client waits for the server to close TCP first
DEFAULT_CLOSE_TIMEOUT = 30.0  # faye's API.CLOSE_TIMEOUT (30 000 ms)
DEFAULT_SEND_TIMEOUT = 30.0  # no write progress for this long means the peer is gone
DEFAULT_HANDSHAKE_TIMEOUT = 10.0  # like websockets' open_timeout


class Side(Enum):
    """Which end of the connection we are (decides who closes TCP first)."""

    SERVER = "server"
    CLIENT = "client"


class DriverLike(Protocol):
    """The part of the driver contract (docs/internals.md) the I/O layer uses."""

    @property
    def state(self) -> ReadyState:
        """CONNECTING, OPEN, CLOSING or CLOSED."""

    @property
    def close_event(self) -> CloseEvent | None:
        """The close event once the driver has produced it."""

    @property
    def ready_to_start(self) -> bool:
        """False while a server still waits for the request head."""

    def start(self) -> None:
        """Queue the request head (client) or the response (server)."""

    def reject(self, status: int, message: str) -> None:
        """Answer the opening handshake with an HTTP error instead (server side only)."""

    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer."""

    def receive_eof(self) -> None:
        """The peer closed its side."""

    def events_received(self) -> list[Event]:
        """Events since the last call."""

    def data_to_send(self) -> bytes:
        """Bytes to write since the last call."""

    def close_expected(self) -> bool:
        """True once TCP should end."""

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Queue a message."""

    def ping(self, payload: str | bytes = b"") -> bool:
        """Queue a ping; False when impossible."""

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bool:
        """Start the closing handshake."""

    def abort(self, code: int = CloseCode.ABNORMAL_CLOSURE, reason: str = "") -> None:
        """CLOSED now, without a handshake."""


EventCallback = Callable[[Event], None]
StartHook = Callable[[], "tuple[int, str] | None"]


class Connection:
    """One WebSocket connection's I/O: see the module docstring for threads, locks and deadlines.

    ``on_event`` is called for every event, in order, on the reading thread, with no lock held.
    ``before_start`` (server side) runs once the request head is known, before ``driver.start()``,
    with no lock held; it returns None to go on or ``(status, message)`` to answer with that HTTP
    error instead of upgrading (an origin check).
    ``ping`` is the interval in seconds between automatic pings (None: off); a ping not followed
    by any incoming byte within ``pong_timeout`` (default: the ping interval) ends the connection
    with a close event 1006. ``handshake_timeout`` bounds the opening handshake, ``close_timeout``
    the closing one, ``send_timeout`` each write's lack of progress. ``has_message_listener``
    (from the API) says whether message events have a taker; with a reader thread, the last
    ``RECV_QUEUE_SIZE`` messages without one are kept for a later ``recv()``.
    """

    def __init__(
        self,
        driver: DriverLike,
        transport: Transport | None = None,
        *,
        side: Side,
        on_event: EventCallback,
        ping: float | None = None,
        pong_timeout: float | None = None,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
        before_start: StartHook | None = None,
        reader_thread: bool = False,
        has_message_listener: Callable[[], bool] | None = None,
        url: str = "",
    ) -> None:
        check_durations(ping=ping, pong_timeout=pong_timeout, close_timeout=close_timeout,
                         handshake_timeout=handshake_timeout, send_timeout=send_timeout)
        self.driver = driver
        self.side = side
        self.url = url
        self._transport: Transport | None = None
        self._on_event = on_event
        self._before_start = before_start
        self._reader_thread_mode = reader_thread
        self._has_message_listener = has_message_listener
        self._deadlines = Timers(ping, pong_timeout if pong_timeout is not None else ping, close_timeout,
                               handshake_timeout)
        self._send_timeout = send_timeout
        self._init_state()
        if transport is not None:
            self.attach(transport)

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._reader_ident: int | None = None
        # (bytes, queued without waiting for the write: the reader's and close()'s replies)
        self._outbox: deque[tuple[bytes, bool]] = deque()
        self._outbox_size = 0
        self._reply_size = 0  # the part of _outbox_size queued without waiting
        self._in_flight = 0
        self._events: deque[Event] = deque()
        self._started = False
        self._ended = False  # no more reads or writes: the transport is shut down (under _lock)
        self._transport_closed = False
        self._broken: BaseException | None = None
        self._close_event: CloseEvent | None = None
        # close() (or the end of an abort) reads on a thread that is not the reader (under _lock)
        self._closer_reading = False
        self._watchdog_entry: WatchdogEntry | None = None  # our close deadline at the watchdog (under _lock)
        self._queue = RecvQueue(RECV_QUEUE_SIZE)
        # Messages read by a recv() caller on its own thread: one read may bring several, and the
        # ones not returned yet wait here for the next recv().
        self._direct: deque[str | bytes] = deque()
        self._direct_reading = False
        self._poller = select.poll()

    # -- setup ------------------------------------------------------------------------------

    def attach(self, transport: Transport, initial: bytes = b"") -> bool:
        """Give the connection its transport and start the handshake; any thread, once.

        ``initial`` holds bytes already read from the peer (the head's leftover, a proxy
        reply's leftover). Returns False if the connection was already closed: the transport
        is then closed and nothing is written.
        """
        with self._lock:
            if self._transport is not None:
                raise InvalidState("the connection already has a transport")
            self._transport = transport
            closed = self.driver.state is ReadyState.CLOSED
            if closed:  # marked before the close, so no other thread duplicates the descriptor
                self._ended = self._transport_closed = True
        if closed:
            transport.close()
            return False
        transport.settimeout(self._send_timeout)
        self._poller.register(transport.fileno(), select.POLLIN)
        self._deadlines.opened_at(time.monotonic())
        self._maybe_start()
        if initial:
            self._operate(lambda: self.driver.receive_data(initial))
        else:
            self._flush(block=False)
        return True

    def _maybe_start(self) -> None:
        # The server learns its request head before start() (from_handler) or from the bytes
        # it reads (raw socketserver path); the client starts at once.
        if self._started:
            return
        with self._lock:
            ready = not self._started and self.driver.ready_to_start
            if ready:
                self._started = True
        if not ready:
            return
        rejection = self._before_start() if self._before_start is not None else None
        if rejection is not None:
            status, message = rejection
            self._operate(lambda: self.driver.reject(status, message))
        self._operate(self.driver.start)

    # -- public operations (any thread) ------------------------------------------------------

    @property
    def state(self) -> ReadyState:
        """The API's ready state: CLOSED only once the close event has been dispatched."""
        if self._close_event is not None:
            return ReadyState.CLOSED
        return min(self.driver.state, ReadyState.CLOSING)

    @property
    def close_event(self) -> CloseEvent | None:
        """The close event, once dispatched."""
        return self._close_event

    @property
    def buffered_amount(self) -> int:
        """Bytes handed to the connection but not yet written to the transport."""
        return self._outbox_size + self._in_flight

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Send a message; blocks until written. False once closing or if the write failed."""
        if self._close_event is not None or self.driver.state >= ReadyState.CLOSING:
            return False
        accepted = self._operate(lambda: self.driver.send(data), block=True)
        return accepted and self._broken is None

    def ping(self, payload: bytes = b"") -> bool:
        """Send a ping; blocks until written. False on drafts, once closing, or on failure."""
        accepted = self._operate(lambda: self.driver.ping(payload), block=True)
        return accepted and self._broken is None

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "", *, wait: bool = True) -> None:
        """Start the closing handshake; never waits for a stuck writer.

        On the reading thread, or while another thread reads, this returns at once: the close
        event comes later (the peer's answer, or ``close_timeout``). When nobody reads (a
        ``recv()``-style user), this thread reads until the connection is closed, at most
        ``close_timeout`` seconds, so that the close event is dispatched before it returns;
        a ``run()`` started meanwhile on another thread waits for it. With ``wait=False`` it
        never reads (a server shutting down many connections): whoever reads next dispatches
        the close event, and the socket is shut down at the close deadline in any case.
        """
        self._operate(lambda: self.driver.close(code, reason))
        # Messages are no longer delivered once closing (RFC 6455 section 7.1.6): a reader
        # waiting for room in the recv() queue, which nobody may empty now, must read on.
        self._queue.stop_putting()
        if self._on_reader_thread():
            return
        with self._reading_to_close(wait) as reading:
            if reading:
                self._dispatch_pending()
                while self._close_event is None and self.driver.state is not ReadyState.OPEN:
                    self._pump(None)
        if not reading:
            self._arm_watchdog()

    @contextlib.contextmanager
    def _reading_to_close(self, wanted: bool = True) -> Iterator[bool]:
        """Become the reading thread to finish a close, if nobody reads; yields whether we did.

        A run() starting meanwhile on another thread waits for this (bounded) finish.
        """
        with self._lock:
            acquired = wanted and self._read_lock.acquire(blocking=False)
            if acquired:
                self._closer_reading = True
        if not acquired:
            yield False
            return
        try:
            self._reader_ident = threading.get_ident()
            yield True
        finally:
            self._reader_ident = None
            with self._lock:
                self._closer_reading = False
                self._read_lock.release()

    def _arm_watchdog(self) -> None:
        # Once per connection: a repeated close() must not add entries to the watchdog's heap.
        deadline = self._deadlines.close_deadline
        with self._lock:
            if deadline is None or self._watchdog_entry is not None or self._close_event is not None:
                return
            self._watchdog_entry = Watchdog.instance().schedule(deadline, self)

    def _disarm_watchdog(self) -> None:
        with self._lock:
            entry, self._watchdog_entry = self._watchdog_entry, None
        if entry is not None:
            Watchdog.instance().cancel(entry)

    def abort(self, reason: str = "") -> None:
        """End the connection now without a closing handshake (close event 1006); any thread."""
        self._fail(reason or "connection aborted", error=None)

    # -- the broadcast writer's turn (faye_websocket.broadcast) --------------------------------

    def write_nowait(
        self, *, frame: bytes | None = None, message: str | bytes | None = None,
        close: tuple[int, str] | None = None,
    ) -> WriteNowait:
        """One write turn that never waits, for the broadcast writer (one thread for many
        connections); any thread.

        Queues at most one item behind the replies already queued: ``frame`` (bytes framed for
        this connection already, shared with others), ``message`` (framed now by the driver,
        with this connection's extensions) or ``close`` ((code, reason): start the closing
        handshake, as ``close(wait=False)``). Then writes what the socket takes now
        (``nowait.send_some``); bytes it does not take stay at the head of the outbox, where
        the next writer of any kind finishes them first, so frames never interleave. Returns
        BUSY (nothing done) while another thread writes or has a message queued, CLOSED once
        the connection is closing (for a frame or message) or ended, PENDING while bytes are
        left, DONE otherwise. A failed write fails the connection (close event 1006).
        """
        if not self._write_lock.acquire(blocking=False):
            return WriteNowait.BUSY
        with self._lock:
            if self._ended or self._transport is None:
                self._write_lock.release()
                return WriteNowait.CLOSED
            if not all(reply for _, reply in self._outbox):
                self._write_lock.release()
                return WriteNowait.BUSY  # a sender's message is queued: that thread writes next
            accepted = self._queue_nowait(frame, message, close)
        if close is not None:
            self._queue.stop_putting()
            self._arm_watchdog()
        outcome = self._drain_nowait()
        if self.driver.state is ReadyState.CLOSED and not self._on_reader_thread():
            self._interrupt()  # the driver failed the connection: the reader must report it
        if outcome is WriteNowait.DONE and not accepted:
            return WriteNowait.CLOSED
        return outcome

    def _queue_nowait(
        self, frame: bytes | None, message: str | bytes | None, close: tuple[int, str] | None
    ) -> bool:
        # Called with _lock held: queue the item as a reply (written without a waiting sender).
        if close is not None:
            if self.driver.close(*close):
                self._deadlines.closing(time.monotonic())
            self._collect(reply=True)
            return True
        if self.driver.state is not ReadyState.OPEN:
            return frame is None and message is None
        if frame is not None:
            self._outbox.append((frame, True))
            self._outbox_size += len(frame)
            self._reply_size += len(frame)
        elif message is not None:
            self.driver.send(message)
            self._collect(reply=True)
        return True

    def _drain_nowait(self) -> WriteNowait:
        """Write queued replies without waiting; the write lock is held and released here."""
        transport = self._transport
        assert transport is not None
        while True:
            with self._lock:
                if self._ended or not self._has_writable(False):
                    # Released under _lock: a reply queued after this check finds the lock free.
                    self._write_lock.release()
                    return WriteNowait.CLOSED if self._ended else WriteNowait.DONE
                data, _ = self._outbox.popleft()
                self._outbox_size -= len(data)
                self._reply_size -= len(data)
                self._in_flight = len(data)
            try:
                sent = send_some(transport, memoryview(data))
            except OSError as error:
                self._in_flight = 0
                self._write_lock.release()
                self._write_failed(error)
                return WriteNowait.CLOSED
            self._in_flight = 0
            if sent < len(data):
                rest = data[sent:]
                with self._lock:
                    self._outbox.appendleft((rest, True))
                    self._outbox_size += len(rest)
                    self._reply_size += len(rest)
                    self._write_lock.release()
                return WriteNowait.PENDING

    # -- reading ------------------------------------------------------------------------------

    def run(self) -> None:
        """The reader loop: read, dispatch, until the close event; on the caller's thread.

        Raises InvalidState if another ``run()`` (or a client's handshake) is already reading
        this connection. A ``close()`` reading on another thread is waited for (it ends within
        ``close_timeout``), and a ``recv()`` reading on another thread hands the socket over
        after its next read, so ``run()`` may be started on a thread while another calls recv().
        """
        if self._on_reader_thread():
            raise InvalidState("run() cannot be called from a listener on the reading thread")
        with self._lock:
            acquired = self._read_lock.acquire(blocking=False)
            wait = not acquired and (self._closer_reading or self._direct_reading)
            if acquired or wait:
                # Set with the lock, so a recv() that finds the lock taken knows it is run()'s.
                self._reader_thread_mode = True
        if not acquired:
            if not wait:
                raise InvalidState("another thread is already reading this connection")
            self._read_lock.acquire()
        try:
            self._reader_ident = threading.get_ident()
            self._dispatch_pending()
            while self._close_event is None:
                self._pump(None)
        finally:
            self._reader_ident = None
            self._read_lock.release()
            self._queue.close()

    def recv(self, timeout: float | None = None) -> str | bytes:
        """The next message; ConnectionClosed once closed, TimeoutError after ``timeout`` seconds.

        With a reader thread (``run()`` on another thread) it takes from a bounded queue that
        the reader fills with every message once ``recv()`` has been called (waiting while it is
        full), and before that with the last messages no listener took; otherwise it reads the
        socket itself.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._on_reader_thread():
            raise InvalidState("recv() cannot be called from a listener on the reading thread")
        if self._reader_thread_mode:
            early = self._pop_direct()  # read by a recv() that then handed the socket to run()
            if early is not None:
                return early
        if self._acquire_for_recv(deadline):
            try:
                message = self._recv_direct(deadline)
            finally:
                with self._lock:
                    self._direct_reading = False
                    self._reader_ident = None
                    self._read_lock.release()
            if message is not None:
                return message
        return self._queue.get(deadline, self._closed_error)

    def _acquire_for_recv(self, deadline: float | None) -> bool:
        """Take the read lock to read on this thread; False if run() reads (use the queue).

        Another thread may read for a while (a recv() or close() there): wait for it, up to the
        deadline (TimeoutError).
        """
        while True:
            with self._lock:
                if self._reader_thread_mode:
                    return False
                if self._read_lock.acquire(blocking=False):
                    self._direct_reading = True
                    self._reader_ident = threading.get_ident()
                    return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("another thread is reading")
            if not self._read_lock.acquire(timeout=-1 if remaining is None else remaining):
                raise TimeoutError("another thread is reading")
            self._read_lock.release()  # free now: take it again, with the checks above

    def _recv_direct(self, deadline: float | None) -> str | bytes | None:
        """Read on this thread until a message; None once run() has started elsewhere."""
        self._dispatch_pending()
        pumped = False
        while True:
            message = self._pop_direct()
            if message is not None:
                return message
            if self._close_event is not None:
                raise self._closed_error()
            if self._reader_thread_mode:
                # run() waits for the socket: from now on messages go to the queue.
                self._queue.enabled = True
                return None
            # Read at least once, so that recv(timeout=0) returns a message already waiting in
            # the socket (the poll then does not block).
            if pumped and deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("no message within the timeout")
            self._pump(deadline)
            pumped = True

    def _pop_direct(self) -> str | bytes | None:
        # Another recv() may take the last one between a check and the pop: pop, never check.
        try:
            return self._direct.popleft()
        except IndexError:
            return None

    def read_available(self) -> float | None:
        """For a background keepalive (keepalive.py): if nobody reads and recv() has room, read
        what has arrived without blocking, fire due timers and dispatch (messages wait for the
        next recv()). Returns when to look again (time.monotonic(); inf: no timer armed), or
        None when another thread reads or RECV_QUEUE_SIZE messages wait."""
        with self._lock:
            if len(self._direct) >= RECV_QUEUE_SIZE or not self._read_lock.acquire(blocking=False):
                return None
            self._direct_reading, self._reader_ident = True, threading.get_ident()
        try:
            self._pump(time.monotonic())
            while not self._ended and self._transport is not None and self._transport.pending() > 0:
                self._pump(time.monotonic())  # TLS records already decrypted: poll would not see them
            wake = self._deadlines.next_deadline(self.driver.state)
        finally:
            with self._lock:
                self._direct_reading, self._reader_ident = False, None
                self._read_lock.release()
        return math.inf if wake is None else wake

    def fileno(self) -> int | None:
        """The transport's descriptor (a keepalive polls it), None before attach or once closed."""
        transport = self._transport
        return None if transport is None or self._transport_closed else transport.fileno()

    def wait_open(self, timeout: float | None = None) -> bool:
        """Read (on this thread) until the connection is OPEN or closed; True if OPEN.

        For callers without a reader thread (a blocking ``connect()``). Raises TimeoutError.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._read_lock:
            self._reader_ident = threading.get_ident()
            try:
                while self.driver.state is ReadyState.CONNECTING:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise TimeoutError("the opening handshake did not complete in time")
                    self._pump(deadline)
                self._dispatch_pending()
            finally:
                self._reader_ident = None
        return self.driver.state is ReadyState.OPEN

    def _closed_error(self) -> ConnectionClosed:
        event = self._close_event
        code = event.code if event is not None and event.code is not None else 1006
        return ConnectionClosed(code, event.reason if event is not None else "")

    def _on_reader_thread(self) -> bool:
        return self._reader_ident == threading.get_ident()

    def _pump(self, until: float | None) -> None:
        """Read once (or fire due timers) and dispatch what came of it; holds _read_lock."""
        transport = self._transport
        if transport is None or self._ended:
            self._finish_if_closed()
            self._dispatch_pending()
            if self._close_event is None:
                self._wait_without_transport(until)
            return
        wake = earliest(self._deadlines.next_deadline(self.driver.state), until)
        # Without a deadline the read itself may block (one system call instead of two); a
        # close() from another thread still wakes it, by shutting the socket down.
        if wake is None or transport.pending() > 0 or self._poll(wake):
            self._read(transport)
        # Timers are checked after every read too: a peer that never stops sending must not
        # keep a close timeout or a ping from ever coming due.
        self._on_timers(time.monotonic())
        if self._events:
            self._dispatch_pending()

    def _wait_without_transport(self, until: float | None) -> None:
        # A client whose transport is not attached yet (it is still connecting): nothing to read.
        delay = 0.05 if until is None else max(0.0, min(0.05, until - time.monotonic()))
        time.sleep(delay)

    def _poll(self, wake: float) -> bool:
        timeout_ms = max(0, math.ceil((wake - time.monotonic()) * 1000))
        try:
            return bool(self._poller.poll(timeout_ms))
        except (OSError, ValueError):
            return True  # the descriptor went away: let recv report it

    def _read(self, transport: Transport) -> None:
        try:
            data = transport.recv(RECV_SIZE)
        except TimeoutError:
            return  # half a TLS record arrived; the rest will
        except OSError as error:
            self._fail(self._network_message(error), error)
            return
        self._deadlines.received()
        if data:
            self._operate(lambda: self.driver.receive_data(data))
            self._maybe_start()
        elif self._broken is not None:
            self._fail(self._network_message(self._broken), self._broken)
        else:
            self._operate(self.driver.receive_eof)

    def _network_message(self, error: BaseException) -> str:
        return f"Network error: {self.url}: {error}" if self.url else f"Network error: {error}"

    # -- timers -------------------------------------------------------------------------------

    def _on_timers(self, now: float) -> None:
        state = self.driver.state
        deadline = self._deadlines.next_deadline(state)
        if deadline is None or now < deadline:
            return
        expired = self._deadlines.expired(now, state)
        if expired is not None:
            self._fail(expired, None)
        elif self._deadlines.ping_due(now, state):
            payload = self._deadlines.next_ping_payload(now)
            if self._operate(lambda: self.driver.ping(payload)):
                self._deadlines.ping_sent(now)  # hixie drafts have no ping: no pong to wait for

    def watchdog_fire(self) -> None:
        """Called by the watchdog thread: wake the reader if the close deadline has passed."""
        deadline = self._deadlines.close_deadline
        if self._close_event is not None or deadline is None or time.monotonic() < deadline:
            return
        self._interrupt()

    # -- driver operations and writing --------------------------------------------------------

    def _operate(self, action: Callable[[], bool | None], *, block: bool = False) -> bool:
        """Run a driver call under the lock, queue its output and events, then write them."""
        with self._lock:
            if self._ended:
                return False
            was_closing = self.driver.state is ReadyState.CLOSING
            result = action()
            self._collect(reply=not block)
            state = self.driver.state
            if state is ReadyState.CLOSING and not was_closing:
                self._deadlines.closing(time.monotonic())
        # A sender always takes its turn at the write lock (so it returns once written); others
        # write only when there is something to write.
        if block or self._outbox:
            self._flush(block=block or self._reply_size > OUTBOX_SOFT_LIMIT)
        if state is ReadyState.CLOSED:
            self._after_operation()
        return result is not False

    def _collect(self, *, reply: bool) -> None:
        # Called with _lock held: move the driver's output into the outbox and event list.
        data = self.driver.data_to_send()
        if data:
            self._outbox.append((data, reply))
            self._outbox_size += len(data)
            if reply:
                self._reply_size += len(data)
        events = self.driver.events_received()
        if events:
            self._events.extend(events)

    def _flush(self, *, block: bool) -> None:
        """Write the outbox unless another thread is writing (then it writes our bytes too).

        With ``block`` the caller waits for the write lock at least once, so a sender returns
        only after its bytes (and everything queued before them) have been written. Without it
        (the reader, close()) only replies are written: a message another thread queued is left
        at the head of the outbox for that thread, which is on its way to the write lock, so
        the reader never ends up blocked writing someone else's megabytes instead of reading.
        """
        everything = block
        while self._transport is not None:
            if not self._write_lock.acquire(blocking=block):
                return
            try:
                error = self._drain_outbox(everything=everything)
            finally:
                self._write_lock.release()
            if error is not None:
                self._write_failed(error)
                return
            with self._lock:
                if not self._has_writable(everything):
                    return
            block = False

    def _has_writable(self, everything: bool) -> bool:
        # Called with _lock held: is there something at the head of the outbox for this writer?
        return bool(self._outbox) and (everything or self._outbox[0][1])

    def _drain_outbox(self, *, everything: bool) -> OSError | None:
        """Write queued bytes until the outbox is empty (or, unless ``everything``, until the
        next item is another thread's message); the write lock is held."""
        transport = self._transport
        while transport is not None:
            with self._lock:
                if self._ended or not self._has_writable(everything):
                    return None
                data, reply = self._outbox.popleft()
                self._outbox_size -= len(data)
                if reply:
                    self._reply_size -= len(data)
                self._in_flight = len(data)
            try:
                view = memoryview(data)
                for start in range(0, len(view), WRITE_CHUNK):
                    transport.sendall(view[start : start + WRITE_CHUNK])  # type: ignore[arg-type]
            except OSError as error:
                return error
            finally:
                self._in_flight = 0
        return None

    def _write_failed(self, error: OSError) -> None:
        with self._lock:
            if self._broken is None:
                self._broken = error
            self._outbox.clear()
            self._outbox_size = self._reply_size = 0
        if self._read_lock.locked() and not self._on_reader_thread():
            self._interrupt()  # the reader wakes, sees _broken and reports the failure
        else:
            self._fail(self._network_message(error), error)

    def _after_operation(self) -> None:
        """After a call on a thread that is not reading: end TCP if the driver has closed.

        Events stay queued for the reading thread (``run()``, ``recv()``): the ``open`` event
        made while the constructor runs must wait for listeners attached after it.
        """
        if self._on_reader_thread() or self.driver.state is not ReadyState.CLOSED:
            return
        with self._reading_to_close() as reading:
            if reading:
                self._finish_if_closed()
        if not reading:
            self._interrupt()  # e.g. close() while CONNECTING: the reader must notice now

    # -- ending ---------------------------------------------------------------------------

    def _fail(self, message: str, error: BaseException | None) -> None:
        """Give up on the connection: error event (if still open), close event 1006, TCP ended."""
        with self._lock:
            if self.driver.state is not ReadyState.CLOSED:
                if self.driver.state < ReadyState.CLOSING:
                    self._events.append(ErrorEvent(message, error))
                self.driver.abort(1006, message)
                self._events.extend(self.driver.events_received())
                self.driver.data_to_send()  # nothing more is written after an abort
        self._end_transport()
        self._after_operation()

    def _finish_if_closed(self) -> None:
        """Once the driver is CLOSED: flush (a close echo), wait for EOF as a client, close TCP."""
        if self.driver.state is not ReadyState.CLOSED:
            return
        if not self._ended:
            self._flush(block=True)
            close = self.driver.close_event
            if self.side is Side.CLIENT and close is not None and close.was_clean:
                self._await_server_eof()
        self._end_transport()

    def _await_server_eof(self) -> None:
        transport = self._transport
        if transport is None or self._broken is not None:
            return
        transport.shutdown_write()
        deadline = time.monotonic() + CLIENT_EOF_WAIT
        while time.monotonic() < deadline:
            if transport.pending() == 0 and not self._poller.poll((deadline - time.monotonic()) * 1000):
                return
            try:
                if not transport.recv(RECV_SIZE):
                    return
            except OSError:
                return

    def _end_transport(self) -> None:
        """Shut the transport down (once) and close it, unless another thread is reading.

        The shutdown wakes every thread blocked in poll, recv or sendall on it; the descriptor
        itself is closed only by the reading thread (or when nobody reads), so that no thread
        ever polls a descriptor number the process has already reused.
        """
        with self._lock:
            transport = self._transport
            if transport is None or self._transport_closed:
                self._ended = True
                return
            first = not self._ended
            self._ended = True
            reader_elsewhere = self._read_lock.locked() and not self._on_reader_thread()
            if not reader_elsewhere:
                self._transport_closed = True
            dup = _dup_socket(transport) if first else None
        if first:
            _shutdown(dup)
            self._queue.stop_putting()
        if reader_elsewhere:
            return
        with self._write_lock:
            transport.close()

    def _interrupt(self) -> None:
        """Wake the reading thread from another thread by shutting the socket down."""
        with self._lock:
            if self._ended or self._transport is None:
                return
            dup = _dup_socket(self._transport)
        _shutdown(dup)
        self._queue.stop_putting()

    # -- dispatch -------------------------------------------------------------------------

    def _dispatch_pending(self) -> None:
        """Hand queued events to on_event, outside every lock; only on the reading thread."""
        while True:
            with self._lock:
                if not self._events:
                    return
                event = self._events.popleft()
            if isinstance(event, CloseEvent):
                self._finish_if_closed()
                self._close_event = event
                self._queue.close()
                self._disarm_watchdog()
            self._deliver(event)

    def _listened(self) -> bool:
        # A message nobody listens for would be lost: with a reader thread it waits for recv().
        return self._has_message_listener is None or self._has_message_listener()

    def _deliver(self, event: Event) -> None:
        if isinstance(event, MessageEvent):
            if self._direct_reading:
                self._direct.append(event.data)
            elif self._queue.enabled:
                self._queue.put(event.data)
            elif self._reader_thread_mode and not self._listened():
                self._queue.keep(event.data)
        try:
            self._on_event(event)
        except Exception:
            logger.exception("faye_websocket: event handler failed for %s", type(event).__name__)


def _dup_socket(transport: Transport) -> socket.socket | None:
    """A duplicate of the transport's socket; call with the connection's _lock held.

    Under the lock the descriptor cannot be closed (``_transport_closed`` is set under it before
    the close), so the duplicate never refers to a socket the process has reused the number for.
    """
    try:
        return socket.socket(fileno=os.dup(transport.fileno()))
    except OSError:
        return None


def _shutdown(dup: socket.socket | None) -> None:
    # shutdown() acts on the TCP connection, not on one descriptor: a dup reaches it even
    # when the transport wraps TLS, and it wakes any thread blocked in poll, recv or send.
    if dup is None:
        return
    try:
        dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        dup.close()
