"""The blocking I/O loop of one WebSocket connection: read, feed the driver, write, dispatch.

This file holds the reading side (who reads, the read, the fast lane, timers, dispatch) and the
public operations; ``Connection`` takes its write path from ``writing.py``, the broadcast
writer's turn from ``broadcast_turn.py`` and its ending from ``ending.py`` (mixins; the fields
they share are declared in ``state.py``).

A ``Connection`` owns a sans-I/O driver (``faye_websocket.driver``) and a ``Transport``
(``faye_websocket.net.transport``). It moves bytes between them, keeps the deadlines the protocol
needs (opening handshake, closing handshake, ping interval and pong timeout), and hands every
event to one callback, ``on_event``, which the public API (``api.py``) turns into listener calls.

Who reads
    Exactly one thread at a time reads the socket: it holds ``_read_lock``, taken only through
    ``_become_reader`` with a ``Role``: the thread inside ``run()`` (the reader loop), or, when
    nobody runs that loop, the thread calling ``recv()``, a blocking ``close()`` or
    ``wait_open()``. The reading thread is also the only one that dispatches events, so
    listeners see events in order and never concurrently.

Who writes
    Every byte the driver produces is framed under ``_lock``, in the order the driver made it,
    and written by whoever holds ``_write_lock``. A ``send`` from any thread but the reading
    one takes the write lock, frames its message and writes it with whatever waited in the
    outbox before it, so it returns once written (a slow peer slows the sender; nothing piles
    up). The reading thread owns the socket's common case: what it produces while handling one
    read (a listener's replies, pongs, close echoes) waits in the outbox and leaves in one
    write once the read's events are dispatched (or at ``COALESCE_LIMIT`` bytes), so pipelined
    traffic costs one system call per batch; its last reply, with nothing queued and nobody
    writing, is written at once. The reading thread and ``close()`` never wait for the write
    lock: if another thread is writing, that thread writes their bytes too. This keeps the
    reader draining the socket while a sender is stuck on a full peer, so two peers that both
    send a lot cannot deadlock, and ``close()`` never blocks on a dead peer.

Locks (names and owners)
    ``_lock`` guards the driver, the outbox and the event list; held only for driver calls.
    ``_write_lock`` serialises transport writes (taken before ``_lock`` when both are held).
    ``_read_lock`` marks the reading thread. Listeners never run under any of them.

Timers
    The reading thread computes the nearest deadline and bounds its read by it (on a plain
    socket, the kernel's receive timeout: one system call per read; on TLS, a ``poll`` first), so
    no timer thread is needed (with no deadline armed it blocks in ``recv``).
    The one case it cannot see is ``close()`` called from another thread while the reader sleeps
    with a later (or no) deadline; for that, one process-wide watchdog thread (``watchdog.Watchdog``)
    shuts the socket down when the close deadline passes, which wakes the reader.

How a client plugs in (faye_websocket/client/websocket.py)
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

import logging
import math
import select
import threading
import time
from collections import deque
from threading import get_ident
from typing import Callable

from ..driver.http import STATUS_REQUEST_TIMEOUT
from ..errors import ConnectionClosed, InvalidState
from ..events import CloseEvent, Event, MessageEvent, ReadyState, copied
from ..net.deadline import check_durations
from ..net.transport import RECV_SIZE, PlainSocketTransport, Transport
from ..rfc6455 import CloseCode
from .broadcast_turn import BroadcastTurn
from .budget import BUDGET_EXCEEDED, FREE_ALLOWANCE, PROCESS_BUDGET, TRY_AGAIN_LATER, Holding
from .driver_like import DriverLike, EventCallback, FrameMaker, StartHook
from .ending import EndingPath
from .recv_queue import RecvQueue
from .roles import FAST_LANE_ROLES, Role, Side
from .timers import Timers, earliest
from .watchdog import Watchdog, WatchdogEntry
from .writing import COALESCE_LIMIT, OUTBOX_SOFT_LIMIT, WRITE_CHUNK

logger = logging.getLogger("faye_websocket")
# Compared per read or per recv(): module globals, as an Enum class attribute read costs about
# 900 instructions on Python 3.11 (EnumType's lookup), a global about 50.
_LOOP = Role.LOOP
_RECV = Role.RECV
_OPEN = ReadyState.OPEN
_CLOSED = ReadyState.CLOSED
_WAIT_OPEN = Role.OPEN
# A tuple, not FAST_LANE_ROLES itself: `in` compares members by identity, where a set hashes them
# (Enum.__hash__ is a Python function).
_FAST_LANE = tuple(FAST_LANE_ROLES)
# What the driver's take_messages hands back: a tuple when the read was one whole frame.
Messages = list[str | bytes] | tuple[str | bytes]

RECV_QUEUE_SIZE = 64  # messages the reader thread may hold for recv() before it stops reading
# A keepalive (keepalive.py) stays away this long after a recv() returned (or the connection opened): a
# caller that reads in a loop is served by its own reads, and a second reader racing it for every
# message would cost a thread hand-off per message.
KEEPALIVE_GRACE = 0.2
DEFAULT_CLOSE_TIMEOUT = 30.0  # faye's API.CLOSE_TIMEOUT (30 000 ms)
DEFAULT_SEND_TIMEOUT = 30.0  # no write progress for this long means the peer is gone
DEFAULT_HANDSHAKE_TIMEOUT = 10.0  # like websockets' open_timeout
# Seconds from the first byte of a message to its last: a peer holding an unfinished message
# keeps memory of ours (see budget.py); 60 s is 64 MiB (the default max_length) at about 1 MB/s.
DEFAULT_MESSAGE_TIMEOUT = 60.0
MESSAGE_OVERDUE = "message not completed within the message timeout"


class Connection(BroadcastTurn, EndingPath):
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
        message_timeout: float | None = DEFAULT_MESSAGE_TIMEOUT,
        before_start: StartHook | None = None,
        reader_thread: bool = False,
        has_message_listener: Callable[[], bool] | None = None,
        url: str = "",
    ) -> None:
        check_durations(ping=ping, pong_timeout=pong_timeout, close_timeout=close_timeout,
                         handshake_timeout=handshake_timeout, send_timeout=send_timeout,
                         message_timeout=message_timeout)
        self.driver = driver
        # What the hot path calls: the protocol driver itself once a server driver has chosen it
        # (ServerDriver.protocol_driver), so that each call skips the server driver's forwarding.
        self._core: DriverLike = driver
        self.side = side
        self.url = url
        self._transport: Transport | None = None
        self._on_event = on_event
        self._before_start = before_start
        self._reader_thread_mode = reader_thread
        self._has_message_listener = has_message_listener
        self._deadlines = Timers(ping, pong_timeout if pong_timeout is not None else ping, close_timeout,
                               handshake_timeout, message_timeout)
        self._send_timeout = send_timeout
        # The receiving fast lane (see _feed): set by the API before attach() when it can take a
        # message without an event first. Called on the reading thread with no lock held; returns
        # False when no listener took the message (it is kept for recv() then).
        self.on_message: Callable[[str | bytes], bool] | None = None
        self._take: Callable[[bytes], Messages | None] | None = None  # core.take_messages
        self._frame: FrameMaker | None = None
        self._frame_to_write: FrameMaker | None = None  # the same, for a sender that writes at once
        self._frame_alone: FrameMaker | None = None  # the same, when framing needs no lock (see send)
        # The rest of a large payload is read straight into its buffer (see _read_into):
        # core.receive_buffer and core.received_into, when the protocol driver has them (hybi).
        self._receive_buffer: Callable[[], memoryview | None] | None = None
        self._received_into: Callable[[int], None] = _ignore_count
        self._lend = False  # the driver holds a read's worth or more: it may lend a buffer next
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
        # The events being dispatched by the reading thread, taken from _events in one go; a send
        # made by a listener while more of them wait is written with theirs, after the batch.
        self._batch: deque[Event] = deque()
        self._more = False  # the fast lane's batch (_dispatch_messages) has messages after this one
        self._started = False
        self._ended = False  # no more reads or writes: the transport is shut down (under _lock)
        self._transport_closed = False
        self._peer_eof = False  # the reader has seen the peer's EOF (nothing left unread)
        self._broken: BaseException | None = None
        self._close_event: CloseEvent | None = None
        self._reader_role: Role | None = None  # why the read lock is held (under _lock)
        self._fast_reader = False  # _reader_role is one of FAST_LANE_ROLES (one test per read)
        self._recv_ended = -math.inf  # time.monotonic() when a recv() last stopped reading
        self._watchdog_entry: WatchdogEntry | None = None  # our close deadline at the watchdog (under _lock)
        self._queue = RecvQueue(RECV_QUEUE_SIZE)
        self._holding = Holding(PROCESS_BUDGET)  # this connection's share of the memory budget
        # Messages read by a recv() caller on its own thread: one read may bring several, and the
        # ones not returned yet wait here for the next recv().
        self._direct: deque[str | bytes] = deque()
        self._poller: select.poll | None = None  # made on first use (TLS reads, a client's EOF wait)

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
        self._deadlines.opened_at(time.monotonic())
        self._maybe_start()
        if initial:
            self._operate(lambda: self.driver.receive_data(initial))
        elif self._outbox:  # queued before the transport came (the start has written its own)
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
        self._core = getattr(self.driver, "protocol_driver", None) or self.driver
        # The fast lanes, when the protocol driver has them (hybi) and the API takes messages.
        self._frame = getattr(self._core, "frame_message", None)
        self._frame_to_write = getattr(self._core, "frame_to_write", None) or self._frame
        # Unmasked frames without an extension session: framing reads the driver's state and moves
        # none (see Hybi.frame_message), so the reader may frame its reply without _lock (see send).
        shared_framing = getattr(self._core, "shared_framing", None)
        framing = shared_framing() if shared_framing is not None else None
        if framing is not None and not framing.transforms:
            self._frame_alone = self._frame
        self._receive_buffer = getattr(self._core, "receive_buffer", None)
        self._received_into = getattr(self._core, "received_into", _ignore_count)
        if self.on_message is not None:
            self._take = getattr(self._core, "take_messages", None)

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
        """Send a message. False once closing or if the write failed.

        From any thread but the reading one it returns once the frame is written. On the
        reading thread (a listener replying) the frame may wait, while more events of the same
        read are still to be dispatched, to leave with their replies in one write: it is
        written at the latest once the batch is dispatched, before the thread reads again.
        """
        core = self._core
        state = core.state
        if state is not _OPEN or self._close_event is not None:
            if self._close_event is not None or state >= ReadyState.CLOSING:
                return False
            # CONNECTING: the driver queues it until open
            accepted = self._operate(lambda: core.send(data), block=True)
            return accepted and self._broken is None
        if self._reader_ident != get_ident():
            return self._send_and_write(core, data)
        # On the reading thread (a listener replying): queue the frame behind the batch's
        # replies, or, when it is the batch's last reply and nobody else writes, write it now.
        write = False
        frame_alone = self._frame_alone
        if frame_alone is not None and not (self._batch or self._more):
            # The common echo of a server without extensions: framed without _lock, written at
            # once if nobody writes. Nothing may follow a close frame (RFC 6455 section 5.5.1),
            # and a close() on another thread may run meanwhile; it cannot slip in before this
            # frame, because bytes reach the socket only under the write lock, and a close frame
            # leaves the driver only once its state has left OPEN (for good). So, with the write
            # lock held: OPEN now means no close frame was written yet, and none can be until we
            # release it (a close() meanwhile queues its frame and leaves it to us: see _flush).
            # Anything else, or anything queued before us, takes the locked way below.
            framed = frame_alone(data)
            if framed is not None and self._write_lock.acquire(False):
                if core.state is _OPEN and not (self._outbox or self._ended):
                    write = accepted = True
                    frame = framed
                    self._in_flight = size = len(frame)
                else:  # our release, then the locked way's _flush: bytes left to us are written
                    self._write_lock.release()
        if not write:
            frame_message = self._frame
            lock = self._lock
            lock.acquire()  # not `with`: its __enter__/__exit__ calls cost twice the lock itself
            try:
                if self._ended:
                    return False
                framed = frame_message(data) if frame_message is not None else None
                if framed is not None:  # the driver's one-call framing (_frame_locked's first case)
                    accepted, frame = True, framed
                else:
                    accepted, frame = self._frame_locked(core, None, data)
                if not frame:
                    pass
                elif not (self._outbox or self._batch or self._more) and self._write_lock.acquire(False):
                    write = True  # the common echo: nothing queued, nobody writing
                    self._in_flight = size = len(frame)
                else:
                    queued = frame if isinstance(frame, bytes) else bytes(frame)  # the outbox holds bytes
                    self._outbox.append((queued, True))
                    self._outbox_size += len(queued)
                    self._reply_size += len(queued)
            finally:
                lock.release()
        if write:
            transport = self._transport
            error = None
            try:
                if transport is None:
                    pass
                elif size <= WRITE_CHUNK:  # _write_out's common case, without its call
                    transport.sendall(frame)
                else:
                    error = self._write_out(transport, frame)
            except OSError as failure:
                error = failure
            finally:
                self._in_flight = 0
                self._write_lock.release()
            if error is not None:
                self._write_failed(error)
                return False
            if self._outbox:  # queued by another thread while we wrote: left to us
                self._flush(block=False)
        elif not (self._batch or self._more) or self._reply_size >= COALESCE_LIMIT:
            self._flush(block=self._reply_size > OUTBOX_SOFT_LIMIT)
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
        if not (wait and self._become_reader(Role.CLOSE)):
            self._arm_watchdog()
            return
        try:
            self._dispatch_pending()
            while self._close_event is None and self.driver.state is not ReadyState.OPEN:
                self._pump(None)
        finally:
            self._stop_reading()

    # -- who reads ----------------------------------------------------------------------------

    def _become_reader(self, role: Role, deadline: float | None = None) -> bool:
        """Take the read lock on this thread for ``role``: the one way to become the reader.

        Returns False when this caller should not read: CLOSE and IDLE when anyone reads (they
        never wait, but for a keepalive's read, which never blocks), RECV once run() reads or
        waits to (recv() then takes from the queue).
        Otherwise it waits for the thread reading now, until ``deadline`` (TimeoutError); run()
        waits only for a recv(), close() or keepalive, and marks the connection as having a
        reader loop at once, so that a recv() reading now hands the socket over after its next
        read (InvalidState when another run() or a wait_open() reads).

        A recv() while nobody reads (the common case) takes the read lock itself, and every
        recv() gives it back itself, without ``_lock`` (see ``recv``): the others decide under
        ``_lock`` and see the read lock held with no role only while a recv() is on its way to
        reading or on its way out, which they treat as a recv() reading, as they would have a
        moment later or earlier (a run() waits for the read lock; a close() returns at once,
        leaving the close event to the next reader).
        """
        lock = self._lock
        while True:
            lock.acquire()  # not `with`: this runs for every recv() (see send)
            try:
                if role is _RECV and self._reader_thread_mode:
                    return False
                if self._read_lock.acquire(False):
                    self._reader_role = role
                    self._fast_reader = role in _FAST_LANE
                    self._reader_ident = get_ident()
                    if role is _LOOP:
                        self._reader_thread_mode = True
                    return True
                if role is Role.IDLE or (role is Role.CLOSE and self._reader_role is not Role.IDLE):
                    return False  # a keepalive's read never blocks: close() waits for it
                if role is _LOOP:
                    if self._reader_role not in (None, Role.RECV, Role.CLOSE, Role.IDLE):
                        raise InvalidState("another thread is already reading this connection")
                    self._reader_thread_mode = True
            finally:
                lock.release()
            remaining = -1.0 if deadline is None else deadline - time.monotonic()
            if deadline is not None and remaining <= 0:
                raise TimeoutError("another thread is reading")
            if not self._read_lock.acquire(timeout=remaining):
                raise TimeoutError("another thread is reading")
            self._read_lock.release()  # free now: take it again, with the checks above

    def _stop_reading(self) -> None:
        """Give the read lock back (after _become_reader returned True, on the same thread), but
        for recv(), which gives it back itself, without _lock (see _become_reader)."""
        lock = self._lock
        lock.acquire()  # not `with`, as in _become_reader
        try:
            if self._reader_role is _WAIT_OPEN:  # a caller that has just opened will likely read soon
                self._recv_ended = time.monotonic()
            self._reader_role = None
            self._fast_reader = False
            self._reader_ident = None
            self._read_lock.release()
        finally:
            lock.release()

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
        self._become_reader(Role.LOOP)
        try:
            self._dispatch_pending()
            while self._close_event is None:
                self._pump(None)
        finally:
            self._stop_reading()
            self._queue.close()
            if self._close_event is not None:
                self._drop_listener()

    def _drop_listener(self) -> None:
        """After run() has dispatched the close event, no event is left to deliver: drop the API's
        callbacks (its bound methods refer back to it through this connection), so that the
        connection's objects are freed when the last reference goes, not by a garbage collection
        (every collection walks every object still waiting for one)."""
        self._on_event = _ignore_event
        self.on_message = self._take = None
        self._has_message_listener = self._before_start = None

    def recv(self, timeout: float | None = None) -> str | bytes:
        """The next message; ConnectionClosed once closed, TimeoutError after ``timeout`` seconds.

        With a reader thread (``run()`` on another thread) it takes from a bounded queue that
        the reader fills with every message once ``recv()`` has been called (waiting while it is
        full), and before that with the last messages no listener took; otherwise it reads the
        socket itself.
        """
        if self._reader_ident == get_ident():
            raise InvalidState("recv() cannot be called from a listener on the reading thread")
        # One read often brings several messages (pipelined traffic): the ones not returned yet
        # come first, without taking the read lock (read by a recv(), a keepalive, or a recv()
        # that then handed the socket to run(); newer messages are always behind them).
        if self._direct:
            ready = self.ready_message()
            if ready is not None:
                return ready
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._reader_thread_mode and self._read_lock.acquire(False):
            # Nobody reads (the common case): _become_reader's work without its call or _lock,
            # as its docstring explains.
            self._reader_role = _RECV
            self._fast_reader = True  # RECV is one of FAST_LANE_ROLES
            self._reader_ident = get_ident()
        elif not self._become_reader(_RECV, deadline):
            return self._queue.get(deadline, self._closed_error)
        try:
            message = self._recv_direct(deadline)
        finally:
            # recv()'s way out, without _lock (see _become_reader) or _stop_reading's call.
            self._recv_ended = time.monotonic()  # a caller that has just read will likely read again soon
            self._reader_role = None
            self._fast_reader = False
            self._reader_ident = None
            self._read_lock.release()
        if message is not None:
            return message
        return self._queue.get(deadline, self._closed_error)

    def _recv_direct(self, deadline: float | None) -> str | bytes | None:
        """Read on this thread until a message; None once run() has started elsewhere."""
        if self._events:
            self._dispatch_pending()
        pumped = False
        while True:
            if self._direct:  # the read's message (or one read before)
                try:
                    return self._direct.popleft()
                except IndexError:
                    pass  # another recv() took it (one that does not read: ready_message)
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

    def ready_message(self) -> str | bytes | None:
        """A message read on a recv() caller's (or keepalive's) turn and not returned yet, or None;
        never reads. Any thread; counts as a recv() for the keepalive's grace."""
        if not self._direct:  # every recv() asks first
            return None
        try:
            message = self._direct.popleft()
        except IndexError:  # another recv() took the last one since the test: the pop decides
            return None
        self._recv_ended = time.monotonic()
        return message

    def read_available(self) -> float | None:
        """For a background keepalive (keepalive.py): if nobody reads and recv() has room, read
        what has arrived without blocking, fire due timers and dispatch (messages wait for the
        next recv()). Returns when to look again (time.monotonic(); inf: no timer armed), or
        None when another thread reads or RECV_QUEUE_SIZE messages wait."""
        if len(self._direct) >= RECV_QUEUE_SIZE or time.monotonic() - self._recv_ended < KEEPALIVE_GRACE:
            return None
        if not self._become_reader(Role.IDLE):
            return None
        try:
            self._pump(time.monotonic())
            while not self._ended and self._transport is not None and self._transport.pending() > 0:
                self._pump(time.monotonic())  # TLS records already decrypted: poll would not see them
            wake = self._deadlines.next_deadline(self.driver.state)
        finally:
            self._stop_reading()
        return math.inf if wake is None else wake

    def idle_reader_wanted(self) -> bool:
        """For a keepalive deciding whether to read (keepalive.py): True when nobody reads, no
        recv() returned within KEEPALIVE_GRACE and recv() has room. Never blocks; any thread."""
        return not (self._read_lock.locked() or len(self._direct) >= RECV_QUEUE_SIZE
                    or time.monotonic() - self._recv_ended < KEEPALIVE_GRACE)

    def next_wake(self) -> float:
        """When a timer (ping, pong, close, message deadline) is next due (time.monotonic());
        inf when none is armed. Any thread."""
        wake = self._deadlines.next_deadline(self.driver.state)
        return math.inf if wake is None else wake

    def input_pending(self) -> bool:
        """True when the transport holds input a poll of its descriptor would not show (TLS
        records already decrypted), so a keepalive must look without waiting for the poll."""
        transport = self._transport
        return transport is not None and not self._transport_closed and transport.pending() > 0

    def fileno(self) -> int | None:
        """The transport's descriptor (a keepalive polls it), None before attach or once closed."""
        transport = self._transport
        return None if transport is None or self._transport_closed else transport.fileno()

    def wait_open(self, timeout: float | None = None) -> bool:
        """Read (on this thread) until the connection is OPEN or closed; True if OPEN.

        For callers without a reader thread (a blocking ``connect()``). Raises TimeoutError.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._become_reader(Role.OPEN)
        try:
            while self.driver.state is ReadyState.CONNECTING:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError("the opening handshake did not complete in time")
                self._pump(deadline)
            self._dispatch_pending()
        finally:
            self._stop_reading()
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
        core = self._core
        before = core.state
        timers = self._deadlines
        deadline = timers.open_deadline if before is _OPEN else timers.next_deadline(before)
        wake = deadline if until is None else earliest(deadline, until)
        # Read once (the read that used to be a method of its own, folded in: a call per read)
        # and hand what came to the driver. Without a deadline the read itself may block (one
        # system call instead of two); a close() from another thread still wakes it, by shutting
        # the socket down.
        now = 0.0
        data: bytes | None = None
        if self._lend and type(transport) is PlainSocketTransport and self._read_into(transport, wake):
            pass  # the rest of a large payload, read straight into its buffer
        elif wake is None or type(transport) is PlainSocketTransport or transport.pending() > 0 \
                or self._poll(wake):
            try:
                if wake is None:
                    data = transport.recv(RECV_SIZE)
                elif type(transport) is PlainSocketTransport:
                    now = time.monotonic()  # one clock read per read: the timeout's, and the timers'
                    data = transport.recv_before(RECV_SIZE, wake, now)  # None: the deadline came first
                else:
                    data = transport.recv(RECV_SIZE, wake)  # a half TLS record waits until wake at most
            except TimeoutError:
                pass  # half a TLS record arrived; the rest will
            except OSError as error:
                self._fail(self._network_message(error), error)
        if data is not None:
            if timers.pong_deadline is not None:
                timers.received()
            if not data:
                self._read_ended()
            else:
                holding = self._holding
                # Checked before the bytes are buffered; admit()'s first test, inlined for a small read.
                size = len(data)
                if (holding.charged or holding.held + size > FREE_ALLOWANCE) and not holding.admit(size):
                    self._refuse(TRY_AGAIN_LATER, BUDGET_EXCEEDED)
                else:
                    whole = self._feed(data) if self._started else self._feed_head(data)
                    held = self._queue.held_bytes
                    if not whole:  # the driver took the read as one whole frame: it holds nothing
                        held += core.held_bytes
                    if held or holding.held:  # nothing held before or after: nothing to account
                        self._account_held(held)
        # Timers are checked after every read too: a peer that never stops sending must not
        # keep a close timeout or a ping from ever coming due. While OPEN throughout, a read
        # moves no deadline earlier than now (it clears the pong deadline, arms a message
        # deadline in the future), so none is due unless the one computed above is. The clock
        # read before a plain socket's read serves: a deadline that passed during the read is
        # found by the next pump's clock read, whose read then does not wait (see recv_before).
        if before is not _OPEN or core.state is not _OPEN:
            self._on_timers(time.monotonic())
        elif deadline is not None:
            if not now:
                now = time.monotonic()
            if now >= deadline:
                self._on_timers(now)
        if self._events:
            self._dispatch_pending()
        # The batch is dispatched: its replies leave now, in one write, before the next read.
        if self._outbox:
            self._flush(block=self._reply_size > OUTBOX_SOFT_LIMIT)

    def _wait_without_transport(self, until: float | None) -> None:
        # A client whose transport is not attached yet (it is still connecting): nothing to read.
        delay = 0.05 if until is None else max(0.0, min(0.05, until - time.monotonic()))
        time.sleep(delay)

    def _readable(self) -> select.poll:
        """The poller for the transport's readability (reading thread only); made on first use,
        as a plain socket's reads never need it."""
        poller = self._poller
        if poller is None:
            assert self._transport is not None
            poller = self._poller = select.poll()
            poller.register(self._transport.fileno(), select.POLLIN)
        return poller

    def _poll(self, wake: float) -> bool:
        timeout_ms = max(0, math.ceil((wake - time.monotonic()) * 1000))
        try:
            return bool(self._readable().poll(timeout_ms))
        except (OSError, ValueError):
            return True  # the descriptor went away: let recv report it

    def _feed_head(self, data: bytes) -> bool:
        """``_feed`` before the driver has started (a server still reading its request head)."""
        self._operate(lambda: self.driver.receive_data(data))
        self._maybe_start()
        return False

    def _account_held(self, held: int) -> None:
        """After a read: charge what is held to the memory budget; arm or clear the deadline of an
        unfinished message; note whether the driver may lend a buffer for the next read."""
        self._holding.settle(held)
        in_driver = self._core.held_bytes
        self._lend = in_driver >= RECV_SIZE  # a large payload on its way holds at least this much
        if (in_driver > 0) is not (self._deadlines.message_deadline is not None):
            self._deadlines.holding(in_driver > 0, time.monotonic())

    def _read_ended(self) -> None:
        """A read returned nothing: the peer's EOF, or the shutdown of a failed write."""
        if self._broken is not None:
            self._fail(self._network_message(self._broken), self._broken)
        else:
            self._peer_eof = True
            self._operate(self.driver.receive_eof)

    def _read_into(self, transport: PlainSocketTransport, wake: float | None) -> bool:
        """``_pump``'s read for the rest of a large payload: straight into its buffer (one copy, by
        the kernel; see driver/payload.py), with the same deadline, budget and end of stream rules.
        False when the driver lends no buffer now (nothing was read: read as usual)."""
        if self._receive_buffer is None:
            return False
        with self._lock:
            view = None if self._ended else self._receive_buffer()
        if view is None:
            return False
        try:
            count = transport.recv_into(view, wake)
        except OSError as error:
            self._fail(self._network_message(error), error)
            return True
        finally:
            view.release()  # the driver may grow the buffer next: no view may stay
        if count is None:
            return True  # the deadline came first
        timers = self._deadlines
        if timers.pong_deadline is not None:
            timers.received()
        if not count:
            self._read_ended()
            return True
        if not self._holding.admit(count):
            self._refuse(TRY_AGAIN_LATER, BUDGET_EXCEEDED)
            return True
        core = self._core
        with self._lock:
            if self._ended:
                return True
            before = core.state
            self._received_into(count)
            state = self._collect_fed(core, before)
        if state is ReadyState.CLOSED:
            self._after_operation()
        self._account_held(core.held_bytes + self._queue.held_bytes)
        return True

    def _refuse(self, code: int, reason: str) -> None:
        """Close with ``code`` and stop reading at once (memory budget, message deadline): our close
        frame goes out if the socket takes it without waiting, then TCP ends (close event 1006)."""
        self._operate(lambda: self.driver.close(code, reason))
        self._fail(reason, None)

    def _feed(self, data: bytes) -> bool:
        """Hand received bytes to the driver; its replies wait in the outbox for the batch's end.
        True when the driver took them as one whole frame, so that it holds nothing now.

        The fast lane: for run()'s reader (or a recv() or keepalive reading on its own thread)
        with nothing else to dispatch first, the driver's ``take_messages`` hands back the read's
        messages when they are all it brought, and each goes straight to ``on_message`` (and to
        recv()), with no event queue in between.
        """
        core = self._core
        take = self._take
        if take is not None and (not self._fast_reader or self._events or self._queue.enabled):
            take = None
        lock = self._lock
        lock.acquire()  # not `with`, as in send()
        try:
            if self._ended:
                return False
            before = core.state
            if take is not None:
                messages = take(data)
            else:
                messages = None
                core.receive_data(data)
            if messages is None:
                state = self._collect_fed(core, before)
        finally:
            lock.release()
        if messages is None:
            if state is ReadyState.CLOSED:
                self._after_operation()
        elif len(messages) != 1:  # a list (a whole frame comes back as a tuple of one)
            if messages:
                self._dispatch_messages(messages)
            return False
        else:  # one message of a read (an echo, a recv()): _dispatch_messages without its loop
            message = messages[0]
            loop = self._reader_role is _LOOP
            if not loop:
                self._direct.append(message)  # read on recv()'s (or a keepalive's) turn: for recv()
            try:
                taken = self.on_message(message)  # type: ignore[misc]  # set whenever _take is
            except Exception:
                logger.exception("faye_websocket: event handler failed for MessageEvent")
                return type(messages) is tuple
            if not taken and loop and self._has_message_listener is not None:
                self._queue.keep(message)
            return type(messages) is tuple
        return False

    def _collect_fed(self, core: DriverLike, before: ReadyState) -> ReadyState:
        """After feeding the driver (with _lock held): its replies to the outbox, its events to
        the event list, the close deadline armed if it started closing; returns its state."""
        out = core.data_to_send()
        if out:
            self._outbox.append((out, True))
            self._outbox_size += len(out)
            self._reply_size += len(out)
        events = core.events_received()
        if events:
            self._events.extend(events)
        state = core.state
        if state is ReadyState.CLOSING and before is not ReadyState.CLOSING:
            self._deadlines.closing(time.monotonic())
        return state

    def _network_message(self, error: BaseException) -> str:
        return f"Network error: {self.url}: {error}" if self.url else f"Network error: {error}"

    # -- timers -------------------------------------------------------------------------------

    def _on_timers(self, now: float) -> None:
        state = self._core.state
        deadline = self._deadlines.next_deadline(state)
        if deadline is None or now < deadline:
            return
        expired = self._deadlines.expired(now, state)
        if expired is not None:
            self._answer_head_timeout(state)
            self._fail(expired, None)
        elif self._deadlines.message_overdue(now, state):
            self._refuse(CloseCode.POLICY_VIOLATION, MESSAGE_OVERDUE)
        elif self._deadlines.ping_due(now, state):
            payload = self._deadlines.next_ping_payload(now)
            if self._operate(lambda: self.driver.ping(payload)):
                self._deadlines.ping_sent(now)  # hixie drafts have no ping: no pong to wait for

    def _answer_head_timeout(self, state: ReadyState) -> None:
        """A server whose request head did not come in time answers 408 before closing (RFC 9110
        section 15.5.9), as http.server's path does; once the head is read there is no answer."""
        if state is not ReadyState.CONNECTING or self.side is not Side.SERVER:
            return
        reject = getattr(self.driver, "reject", None)
        if reject is not None and getattr(self.driver, "request", True) is None:
            self._operate(lambda: reject(STATUS_REQUEST_TIMEOUT, "Request Timeout"))

    def watchdog_fire(self) -> None:
        """Called by the watchdog thread: wake the reader if the close deadline has passed."""
        deadline = self._deadlines.close_deadline
        if self._close_event is not None or deadline is None or time.monotonic() < deadline:
            return
        self._interrupt()

    # -- after a driver call on a thread that is not reading ---------------------------------

    def _after_operation(self) -> None:
        """After a call on a thread that is not reading: end TCP if the driver has closed.

        Events stay queued for the reading thread (``run()``, ``recv()``): the ``open`` event
        made while the constructor runs must wait for listeners attached after it.
        """
        if self._on_reader_thread() or self.driver.state is not ReadyState.CLOSED:
            return
        if not self._become_reader(Role.CLOSE):
            self._interrupt()  # e.g. close() while CONNECTING: the reader must notice now
            return
        try:
            self._finish_if_closed()
        finally:
            self._stop_reading()

    # -- dispatch -------------------------------------------------------------------------

    def _dispatch_pending(self) -> None:
        """Hand queued events to on_event, outside every lock; only on the reading thread."""
        while self._events:
            with self._lock:
                batch, self._events = self._events, deque()
            self._batch = batch
            try:
                while batch:
                    event = batch.popleft()
                    if isinstance(event, CloseEvent):
                        self._finish_if_closed()
                        self._close_event = event
                        self._queue.close()
                        self._disarm_watchdog()
                        self._holding.release()
                        # The listeners get a copy: the one kept here and by the driver must not
                        # refer to the API object (the dispatch sets the event's target), or the
                        # connection would be a reference cycle that only a garbage collection frees.
                        event = copied(event)
                    self._deliver(event)
            finally:
                if batch:  # a listener raised past the logging (KeyboardInterrupt): keep the rest
                    with self._lock:
                        batch.extend(self._events)
                        self._events = batch
                    self._batch = deque()

    def _dispatch_messages(self, messages: Messages) -> None:
        """The fast lane's dispatch (see _feed): each message to on_message, in order, on the
        reading thread with no lock held; one no listener took is kept for a later recv()."""
        on_message = self.on_message
        assert on_message is not None
        keep = self._has_message_listener is not None
        # recv() or a keepalive reading on its own thread: every message waits for recv() (as
        # _deliver keeps them), whether a listener took it or not.
        direct = self._direct if self._reader_role is not _LOOP else None
        last = len(messages) - 1
        index = 0
        try:
            for data in messages:
                self._more = index != last  # a reply waits for the rest (see send)
                index += 1
                if direct is not None:
                    direct.append(data)
                try:
                    taken = on_message(data)
                except Exception:
                    logger.exception("faye_websocket: event handler failed for MessageEvent")
                    continue
                if not taken and keep and direct is None:
                    self._queue.keep(data)
        finally:
            self._more = False
            if index <= last:  # a listener raised past the logging (KeyboardInterrupt): keep the rest
                with self._lock:
                    self._events.extendleft(reversed([MessageEvent(data) for data in messages[index:]]))

    def _deliver(self, event: Event) -> None:
        if isinstance(event, MessageEvent):
            role = self._reader_role
            if role is Role.RECV or role is Role.IDLE:
                self._direct.append(event.data)
            elif self._queue.enabled:
                self._queue.put(event.data)
            elif self._reader_thread_mode and self._has_message_listener is not None \
                    and not self._has_message_listener():
                self._queue.keep(event.data)  # nobody listens: kept for a later recv()
        try:
            self._on_event(event)
        except Exception:
            logger.exception("faye_websocket: event handler failed for %s", type(event).__name__)


def _ignore_event(event: Event) -> None:
    """The on_event of a connection whose events have all been delivered (see _drop_listener)."""


def _ignore_count(count: int) -> None:
    """A driver without ``received_into`` never lends a buffer (see Connection._read_into)."""

