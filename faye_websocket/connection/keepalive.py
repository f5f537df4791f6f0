"""Keepalive for a connection nobody reads: answer pings, send our own, notice a dead peer.

A ``connect()``ed client reads the socket only inside ``recv()``, iteration, ``run()`` or
``close()``. A caller busy elsewhere for longer than the server's ping timeout would be dropped
(no pong), its own ``ping=`` interval would stall, and ``ping(callback=)`` would never fire.

``Keepalive`` is one daemon thread per connection that becomes the reader only while nobody else
is: it waits for the socket (or the next ping / pong / close deadline) *without* holding the read
lock, then asks the connection to read what has arrived without blocking
(``Connection.read_available``, which takes the read lock only if it is free). So the one-reader
rule holds, a ``recv()`` caller never waits for it longer than one non-blocking read, and while
another thread reads it stays away (``BUSY_WAIT``), which keeps it off the hot path. Messages it
reads are kept, in order, for the next ``recv()`` (at most ``RECV_QUEUE_SIZE``; then it stops
reading and TCP pushes back).
Listeners may therefore run on the keepalive thread, as they may on any thread that reads.

The thread starts only once it has something to do. Until then one process-wide thread
(``KeepaliveHub``, on Linux's epoll) watches every such connection's socket and next timer: when
bytes arrive or a timer comes due while nobody reads, it starts that connection's thread (and
never runs user code itself, so a slow listener delays only its own connection). A client that
connects, talks and closes, or that reads in a loop, never gets a thread of its own: a thread per
``connect()`` doubled the CPU of a connect + close (scripts/bench_hotpath.py).
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import select
import threading
import time
from typing import TYPE_CHECKING

from ..net.flag import Flag

if TYPE_CHECKING:
    from .connection import Connection

IDLE_WAIT = 1.0  # seconds between looks at the connection when no timer is armed
BUSY_WAIT = 0.2  # seconds to stay away while another thread reads (it answers pings meanwhile)
MIN_WAIT = 0.001  # seconds; a timer just due is looked at again no sooner than this


HUB_THREAD_NAME = "faye_websocket-idle-watcher"  # one per process, like the watchdog
# One thread at most per keepalive, started once: a start is rare (most connections never need
# their thread), so every keepalive shares this lock rather than making one of its own.
_STARTING = threading.Lock()


class Keepalive:
    """The background reader of one connection; ``start()`` once OPEN, ``stop()`` before closing.

    ``stop()`` is safe from any thread (from a listener on the keepalive thread too: it then does
    not wait for itself) and returns once the thread no longer reads, at most ``timeout`` later.
    """

    def __init__(self, connection: Connection, name: str) -> None:
        self.connection = connection
        self._name = name
        self._stopped = Flag()
        self._thread: threading.Thread | None = None
        self.hub_entry: list[object] | None = None  # this keepalive's timer in the hub (KeepaliveHub)

    @property
    def stopped(self) -> bool:
        """True once ``stop()`` was called."""
        return self._stopped.is_set()

    def start(self) -> None:
        """Watch the connection (once): from the hub where there is one, else a thread now."""
        hub = KeepaliveHub.instance()
        if hub is None or not hub.watch(self):
            self.start_thread()

    def start_thread(self) -> None:
        """Start this connection's reading thread (once; not after ``stop()``). Any thread."""
        with _STARTING:
            if self._thread is not None or self._stopped.is_set():
                return
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading; returns at once, from any thread.

        The thread ends at its next look (within ``IDLE_WAIT``) after at most one more read,
        which never blocks and which ``Connection.close`` waits for; so a ``close()`` after this
        is not held up by the thread's poll. (``timeout`` is kept for callers; nothing waits.)
        A second call has nothing left to do (a client stops it before closing and once closed).
        """
        if self._stopped.is_set():
            return
        self._stopped.set()
        hub = KeepaliveHub.instance(start=False)
        if hub is not None:
            hub.forget(self)

    def _run(self) -> None:
        connection = self.connection
        fileno = connection.fileno()
        if fileno is None:  # closed already: dispatch what is left (the close event) and stop
            connection.read_available()
            return
        poller = select.poll()
        poller.register(fileno, select.POLLIN)
        wake = time.monotonic()  # look at once: bytes may have come with the handshake
        while not self._stopped.is_set() and connection.close_event is None:
            timeout = min(IDLE_WAIT, wake - time.monotonic())
            if timeout > 0:
                try:
                    poller.poll(max(timeout, MIN_WAIT) * 1000)
                except (OSError, ValueError):
                    pass  # the descriptor went away: read_available reports the end
            if self._stopped.is_set():
                return
            next_wake = connection.read_available()
            if next_wake is None:
                self._stopped.wait(BUSY_WAIT)  # another thread reads, or recv() has fallen behind
                wake = time.monotonic()
            else:
                wake = next_wake


class KeepaliveHub:
    """One daemon thread for the whole process that starts a connection's keepalive thread once
    it is needed: bytes arrived, or a timer came due, while nobody read the connection.

    Each watched socket is registered with ``select.epoll`` for one readiness report at a time
    (EPOLLONESHOT), so a busy connection (a ``recv()`` loop) is looked at no more than once per
    ``BUSY_WAIT``; registering from any thread takes effect in the waiting ``epoll.poll`` at once,
    so a ``connect()`` costs one system call here, not a thread. The hub only decides; it never
    reads a socket or runs user code.
    """

    _instance: KeepaliveHub | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._wake_read, self._wake_write = os.pipe()  # wakes the loop for an earlier timer
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._epoll.register(self._wake_read, select.EPOLLIN)
        self._lock = threading.Lock()  # guards everything below
        self._watched: dict[int, Keepalive] = {}  # descriptor -> keepalive
        self._fds: dict[Keepalive, int] = {}
        # [when, sequence, keepalive or None once cancelled]: one live entry per keepalive
        self._timers: list[list[object]] = []
        self._cancelled = 0
        self._sequence = itertools.count()
        self._waiting_until = math.inf  # when the loop's current poll ends
        thread = threading.Thread(target=self._loop, name=HUB_THREAD_NAME, daemon=True)
        thread.start()

    @classmethod
    def _after_fork(cls) -> None:
        """In a forked child: the hub's thread did not come along, and its epoll is shared with the
        parent's; drop it (closing the child's descriptors) so the child starts its own."""
        hub, cls._instance = cls._instance, None
        cls._instance_lock = threading.Lock()
        if hub is not None:
            hub._epoll.close()
            os.close(hub._wake_read)
            os.close(hub._wake_write)

    @classmethod
    def instance(cls, *, start: bool = True) -> KeepaliveHub | None:
        """The process's hub (started on first use with ``start``); None without epoll."""
        if cls._instance is not None or not start:
            return cls._instance
        if not hasattr(select, "epoll"):
            return None
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def watch(self, keepalive: Keepalive) -> bool:
        """Watch ``keepalive``'s connection; False when it must start its thread now instead."""
        connection = keepalive.connection
        fd = connection.fileno()
        if fd is None or connection.close_event is not None or connection.input_pending():
            return False
        with self._lock:
            if keepalive.stopped:
                return True
            previous = self._watched.get(fd)
            if previous is not None:  # a closed connection's number, reused: drop its watch
                self._drop(previous)
            self._watched[fd] = keepalive
            self._fds[keepalive] = fd
            if not self._arm(fd):
                self._drop(keepalive)
                return False
            wake = connection.next_wake()
            if wake != math.inf:  # no timer (no ping= and not closing): nothing to schedule
                self._schedule(keepalive, wake)
        return True

    def forget(self, keepalive: Keepalive) -> None:
        """Stop watching ``keepalive`` (stopped, or its thread has started). Any thread."""
        with self._lock:
            self._drop(keepalive)

    # -- under _lock --------------------------------------------------------------------------

    def _arm(self, fd: int) -> bool:
        flags = select.EPOLLIN | select.EPOLLONESHOT
        try:
            try:
                self._epoll.register(fd, flags)
            except FileExistsError:  # still registered for a closed socket that had this number
                self._epoll.modify(fd, flags)
        except (OSError, ValueError):
            return False  # the descriptor is already gone
        return True

    def _drop(self, keepalive: Keepalive) -> None:
        self._cancel(keepalive)
        fd = self._fds.pop(keepalive, None)
        if fd is not None and self._watched.get(fd) is keepalive:
            del self._watched[fd]
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass  # closed already: epoll forgot it by itself

    def _schedule(self, keepalive: Keepalive, when: float) -> None:
        self._cancel(keepalive)
        if when == math.inf:
            return
        entry: list[object] = [when, next(self._sequence), keepalive]
        keepalive.hub_entry = entry
        heapq.heappush(self._timers, entry)
        if when < self._waiting_until:
            try:
                os.write(self._wake_write, b"\0")
            except BlockingIOError:
                pass  # a wake-up is pending already

    def _cancel(self, keepalive: Keepalive) -> None:
        entry, keepalive.hub_entry = keepalive.hub_entry, None
        if entry is None:
            return
        entry[2] = None
        self._cancelled += 1
        if self._cancelled > len(self._timers) // 2:  # keep the heap at the size of what is live
            self._timers = [item for item in self._timers if item[2] is not None]
            heapq.heapify(self._timers)
            self._cancelled = 0

    # -- the hub's thread ---------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._lock:
                while self._timers and self._timers[0][2] is None:
                    heapq.heappop(self._timers)
                    self._cancelled -= 1
                when = float(self._timers[0][0]) if self._timers else math.inf  # type: ignore[arg-type]
                self._waiting_until = when
            timeout = -1.0 if when == math.inf else max(0.0, when - time.monotonic())
            try:
                events = self._epoll.poll(timeout)
            except InterruptedError:
                continue
            for fd, _ in events:
                if fd == self._wake_read:
                    self._drain_wakes()
                else:
                    self._look(fd=fd)
            self._fire_timers()

    def _drain_wakes(self) -> None:
        try:
            while os.read(self._wake_read, 64):
                pass
        except BlockingIOError:
            pass

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._timers or float(self._timers[0][0]) > now:  # type: ignore[arg-type]
                    return
                entry = heapq.heappop(self._timers)
                keepalive = entry[2]
                if keepalive is None:
                    self._cancelled -= 1
                    continue
                assert isinstance(keepalive, Keepalive)
                keepalive.hub_entry = None
            self._look(keepalive=keepalive, timer=True)

    def _look(
        self, *, fd: int | None = None, keepalive: Keepalive | None = None, timer: bool = False
    ) -> None:
        """Bytes arrived (``fd``) or a timer came due: start the thread if nobody reads, else look
        again after BUSY_WAIT."""
        with self._lock:
            if keepalive is None:
                keepalive = self._watched.get(fd) if fd is not None else None
            if keepalive is None or keepalive not in self._fds:
                return
            connection = keepalive.connection
            if keepalive.stopped or connection.close_event is not None:
                self._drop(keepalive)
                return
            if not connection.idle_reader_wanted():
                self._schedule(keepalive, time.monotonic() + BUSY_WAIT)  # readiness stays unarmed
                return
            wake = connection.next_wake()
            if timer and time.monotonic() < wake and self._arm(self._fds[keepalive]):
                # Back from a busy spell with nothing due: wait for bytes or the next timer again
                # (bytes that came meanwhile report at once).
                self._schedule(keepalive, wake)
                return
            self._drop(keepalive)
        keepalive.start_thread()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=KeepaliveHub._after_fork)
