"""One shared thread that watches every open EventSource: peer EOF and ping timers.

An event stream never reads from its socket, so a client that goes away is only noticed by
watching for EOF (faye-websocket-ruby #33: the close callback never ran behind nginx). Doing that
with one thread per stream would double the threads of a thread-per-connection server, so a
single selector thread watches all streams and also fires their ping timers. The thread starts
with the first stream and exits ``IDLE_LINGER`` seconds after it finds the last one gone, so idle
processes keep no thread and no file descriptor (the thread's lifecycle is
``net.wakeup.ServiceThread``'s).

A stream is watched only once it has lived ``WATCH_DELAY`` seconds (or at its first ping, when
that comes sooner): ``add`` and ``remove`` of a stream that is still waiting are a dictionary
entry under the watcher's lock, with no system call and no wake-up, so the many short streams of
a busy server (a few events, then closed) never touch the selector. The watcher thread registers
the streams that are still open in batches (every stream due within ``WATCH_BATCH`` at once), so
newcomers wake it a few times a second at most, however many arrive. What this costs: a reader
that leaves a stream nothing is being written to is noticed ``WATCH_DELAY`` later at the latest
(a write to it fails at once either way); pings are not delayed.

A watched stream leaves the selector on its own thread: ``remove`` unregisters it directly (every
selector accepts that while another thread waits in it; a descriptor it then reports is no
longer in the map and is skipped), so the watcher thread is woken only when the last stream has
gone while it would sleep long (it then ends) or when a newcomer is due before its next timer.

The thread never blocks on a stream: readiness calls and ping writes are non-blocking (see
``faye_websocket.eventsource.writer``), and it calls no user code except close listeners of
streams it closes.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import selectors
import socket
import threading
import time
from typing import Protocol

from ..net.wakeup import ServiceThread, drain_wakeups

logger = logging.getLogger("faye_websocket")
THREAD_NAME = "faye_websocket-eventsource-watcher"
START_FAILURE_LOG_INTERVAL = 10.0  # seconds between two warnings that the thread did not start
# Seconds the thread stays once the last stream has gone: short streams that come and go (one
# event each, or a reconnecting reader) then share one thread instead of starting one apiece,
# which cost more than the rest of a stream's setup (measured: 500 one-event streams, 100 at once).
IDLE_LINGER = 0.25
# Seconds: when the last stream leaves, a thread due to sleep longer than this is woken so that
# it ends soon (IDLE_LINGER later); a shorter sleep is left to run out, which spares a wake-up
# each time a server between short streams has none open (the thread then ends at most
# LONG_SLEEP + IDLE_LINGER after the last stream).
LONG_SLEEP = 1.0
# Seconds a stream lives before the thread watches its socket for EOF: the bound on noticing a
# reader that leaves an idle stream. Streams shorter than this cost the selector nothing (two
# epoll_ctl calls and the interpreter-lock hand-offs around them were a fifth of a short stream's
# cost with 100 handler threads at once, measured with the bench's 500 readers).
WATCH_DELAY = 0.5
# Streams due within this many seconds of the earliest are registered in the same wake-up, so the
# thread wakes at most 1 / WATCH_BATCH times a second for newcomers (each stream is then watched
# between WATCH_DELAY - WATCH_BATCH and WATCH_DELAY after it opened).
WATCH_BATCH = 0.125


class Watched(Protocol):
    """What the watcher needs from a stream. The ``on_*`` methods run on the watcher thread."""

    def watch_fileno(self) -> int:
        """The descriptor to watch for readability (EOF or stray bytes), or -1 if closed."""

    def on_readable(self) -> None:
        """The descriptor is readable: drain it without blocking; close the stream on EOF."""

    def on_ping_timer(self, now: float) -> float | None:
        """A ping is due: send it without blocking; return the next deadline, or None to stop."""


class StreamWatcher:
    """The shared selector thread; ``add`` and ``remove`` are safe from any thread.

    ``add`` files a stream as pending (due ``WATCH_DELAY`` later, or at its first ping); the
    thread registers the streams still pending when they fall due. ``remove`` drops a pending
    stream, or unregisters a watched one on the caller's thread, under the watcher's lock; it
    must come before the stream's socket is closed, so that a descriptor number reused by a new
    stream is never mistaken for it.

    When the thread cannot start (the process is at its thread limit) nothing is lost: the
    streams stay pending, a warning is logged (at most once per
    ``START_FAILURE_LOG_INTERVAL``), and the next ``add`` starts the thread for all of them.
    Streams still work meanwhile; only pings and the notice of a departed client wait for the
    thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # owner: this object; guards every field below
        self._service = ServiceThread(THREAD_NAME, self._lock, self._run)
        self._selector: selectors.BaseSelector | None = None  # exists while the thread runs
        self._pending: dict[Watched, float | None] = {}  # not yet watched: stream -> first ping
        self._due: list[tuple[float, int, Watched]] = []  # when pending streams are watched (lazy)
        self._fds: dict[Watched, int] = {}  # every watched stream and its descriptor
        self._timers: list[tuple[float, int, Watched]] = []  # ping deadlines (removed lazily)
        self._next_wake = math.inf  # when the thread's current wait ends at the latest
        self._idle_since: float | None = None  # when the thread last found nothing watched
        self._sequence = itertools.count()
        self._start_failed_at = -math.inf  # when a failed start was last logged

    def add(self, stream: Watched, first_ping: float | None) -> None:
        """Watch ``stream`` from ``WATCH_DELAY`` seconds on; ``first_ping`` is the monotonic time
        of its first ping (None: never), which also watches it then if that is sooner."""
        due = time.monotonic() + WATCH_DELAY
        if first_ping is not None and first_ping < due:
            due = first_ping
        with self._lock:
            self._pending[stream] = first_ping
            heapq.heappush(self._due, (due, next(self._sequence), stream))
            self._idle_since = None
            if due < self._next_wake or not self._service.running():
                self._start_or_wake()

    def remove(self, stream: Watched) -> None:
        """Stop watching ``stream``; call it before the stream's socket is closed."""
        with self._lock:
            if stream in self._pending:  # never watched; its entry in _due is dropped when due
                del self._pending[stream]
                if not self._pending:
                    self._due.clear()  # only such entries are left
            else:
                fd = self._fds.pop(stream, None)
                selector = self._selector
                if fd is None or selector is None:
                    return
                key = selector.get_map().get(fd)
                if key is not None and key.data is stream:
                    try:
                        selector.unregister(fd)
                    except (KeyError, ValueError, OSError):
                        pass  # the descriptor is already closed: the kernel forgot it
            if self._fds or self._pending:
                return
            if not self._service.running():
                self._close_selector()  # its thread failed: nothing to wake
            elif self._next_wake - time.monotonic() > LONG_SLEEP:
                self._service.start_or_wake()  # the thread sees nothing left: it ends soon

    def watching(self, stream: Watched) -> bool:
        """True once ``stream``'s socket is in the selector (tests check when that happens)."""
        with self._lock:
            return stream in self._fds

    def running(self) -> bool:
        """True while the watcher thread exists (tests check that it exits when idle)."""
        with self._lock:
            return self._service.running()

    def _start_or_wake(self) -> None:
        """Start or wake the thread (lock held); a refused start is logged and retried later."""
        try:
            self._service.start_or_wake()
        except RuntimeError as error:  # "can't start new thread"
            now = time.monotonic()
            if now - self._start_failed_at >= START_FAILURE_LOG_INTERVAL:
                self._start_failed_at = now
                logger.warning("faye_websocket: EventSource watcher thread not started (%s); %d "
                               "stream(s) wait for the next attempt", error, len(self._fds))

    def _close_selector(self) -> None:
        """Nothing is watched any more and the thread ends (lock held): drop the selector and
        the timers."""
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self._timers.clear()
        self._due.clear()
        self._next_wake = math.inf
        self._idle_since = None

    # -- the watcher thread -----------------------------------------------------------------

    def _run(self, wake_r: socket.socket) -> None:
        """The thread's body (``ServiceThread``): wait, serve, until nothing is watched."""
        with self._lock:
            if not self._fds and not self._pending:  # every stream left before the thread ran
                self._close_selector()
                self._service.finish()
                return
            selector = self._selector
            if selector is None:
                selector = self._selector = selectors.DefaultSelector()
            if wake_r.fileno() in selector.get_map():  # a read end of a thread that failed
                selector.unregister(wake_r.fileno())
            selector.register(wake_r, selectors.EVENT_READ, None)
        try:
            while self._run_once(selector, wake_r):
                pass
        finally:
            with self._lock:
                if self._selector is selector and wake_r.fileno() in selector.get_map():
                    selector.unregister(wake_r)

    def _run_once(self, selector: selectors.BaseSelector, wake_r: socket.socket) -> bool:
        """One wait and what it found; False (the thread ends) once nothing has been watched for
        ``IDLE_LINGER`` seconds."""
        with self._lock:
            now = time.monotonic()
            self._watch_due(selector, now)
            if self._fds or self._pending:
                idle_until = math.inf
            else:
                if self._idle_since is None:
                    self._idle_since = now
                idle_until = self._idle_since + IDLE_LINGER
                if now >= idle_until:
                    selector.unregister(wake_r)
                    self._close_selector()
                    self._service.finish()
                    return False
            self._next_wake = min(self._timers[0][0] if self._timers else math.inf,
                                  self._due[0][0] if self._due else math.inf, idle_until)
            timeout = None if self._next_wake == math.inf else max(0.0, self._next_wake - now)
        for key, _ in selector.select(timeout):
            if key.data is None:
                drain_wakeups(wake_r)
            elif key.data in self._fds:
                key.data.on_readable()
        self._fire_timers()
        return True

    def _watch_due(self, selector: selectors.BaseSelector, now: float) -> None:
        """Register the pending streams due within ``WATCH_BATCH`` of ``now`` (lock held)."""
        due = self._due
        while due and due[0][0] <= now + WATCH_BATCH:
            _, _, stream = heapq.heappop(due)
            if stream in self._pending:  # else removed while pending: never watched
                self._register(selector, stream, self._pending.pop(stream))

    def _register(self, selector: selectors.BaseSelector, stream: Watched, first_ping: float | None) -> None:
        """Put ``stream`` in the selector and its first ping on the timers (lock held). A stream
        is removed before its socket closes, so its descriptor is still its own."""
        fd = stream.watch_fileno()
        if fd < 0:
            return  # closed (the WSGI server ended the response)
        stale = selector.get_map().get(fd)
        if stale is not None:  # only if a closed stream was never removed: the newer one wins
            selector.unregister(fd)
            self._fds.pop(stale.data, None)
        try:
            selector.register(fd, selectors.EVENT_READ, stream)
        except OSError:  # EBADF: the socket was closed without the stream's close()
            return
        self._fds[stream] = fd
        if first_ping is not None:
            heapq.heappush(self._timers, (first_ping, next(self._sequence), stream))

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._timers or self._timers[0][0] > now:
                    return
                _, _, stream = heapq.heappop(self._timers)
                if stream not in self._fds:
                    continue  # removed: its entry is dropped lazily here
            deadline = stream.on_ping_timer(now)
            if deadline is not None:
                with self._lock:
                    if stream in self._fds:
                        heapq.heappush(self._timers, (deadline, next(self._sequence), stream))


WATCHER = StreamWatcher()
"""The process-wide watcher shared by every EventSource."""
