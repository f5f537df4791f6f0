"""One shared thread that watches every open EventSource: peer EOF and ping timers.

An event stream never reads from its socket, so a client that goes away is only noticed by
watching for EOF (faye-websocket-ruby #33: the close callback never ran behind nginx). Doing that
with one thread per stream would double the threads of a thread-per-connection server, so a
single selector thread watches all streams and also fires their ping timers. The thread starts
with the first stream and exits ``IDLE_LINGER`` seconds after the last one is gone, so idle
processes keep no thread and no file descriptor (the thread's lifecycle is
``net.wakeup.ServiceThread``'s).

A stream joins and leaves on its own thread: ``add`` and ``remove`` change the selector directly
(epoll and kqueue take registrations while another thread waits in them), so the watcher thread
is woken only when it must act sooner: a first ping earlier than its next timer, the last stream
gone (it ends), or a selector that sees changes only at its next call (poll, select). Opening and
closing a stream thus costs the watcher thread nothing, where one wake-up each way cost every
other thread a hand-off of the interpreter lock under load.

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
# Selectors whose kernel object takes registrations made while another thread waits in it.
_LIVE_SELECTORS = tuple(
    getattr(selectors, name) for name in ("EpollSelector", "KqueueSelector", "DevpollSelector")
    if hasattr(selectors, name)
)


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

    A stream is registered in the selector by ``add`` and unregistered by ``remove``, both on the
    caller's thread and under the watcher's lock; ``remove`` must come before the stream's socket
    is closed, so that a descriptor number reused by a new stream is never mistaken for it.

    When the thread cannot start (the process is at its thread limit) nothing is lost: the
    streams stay registered, a warning is logged (at most once per
    ``START_FAILURE_LOG_INTERVAL``), and the next ``add`` starts the thread for all of them.
    Streams still work meanwhile; only pings and the early notice of a departed client wait for
    the thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # owner: this object; guards every field below
        self._service = ServiceThread(THREAD_NAME, self._lock, self._run)
        self._selector: selectors.BaseSelector | None = None  # exists while streams are watched
        self._live = False  # the selector sees changes made during a select (see _LIVE_SELECTORS)
        self._fds: dict[Watched, int] = {}  # every watched stream and its descriptor
        self._timers: list[tuple[float, int, Watched]] = []  # ping deadlines (removed lazily)
        self._next_wake = math.inf  # when the thread's current wait ends at the latest
        self._idle_since: float | None = None  # when the thread last found nothing watched
        self._sequence = itertools.count()
        self._start_failed_at = -math.inf  # when a failed start was last logged

    def add(self, stream: Watched, first_ping: float | None) -> None:
        """Watch ``stream``; ``first_ping`` is the monotonic time of its first ping (None: never)."""
        fd = stream.watch_fileno()
        if fd < 0:
            return  # already closed
        with self._lock:
            selector = self._selector
            if selector is None:
                selector = self._selector = selectors.DefaultSelector()
                self._live = isinstance(selector, _LIVE_SELECTORS)
            stale = selector.get_map().get(fd)
            if stale is not None:  # only if a closed stream was never removed: the newer one wins
                selector.unregister(fd)
                self._fds.pop(stale.data, None)
            try:
                selector.register(fd, selectors.EVENT_READ, stream)
            except OSError:  # EBADF: closed by another thread since watch_fileno()
                if not self._fds and not self._service.running():
                    self._close_selector()
                return
            self._fds[stream] = fd
            self._idle_since = None
            wake = not self._live
            if first_ping is not None:
                heapq.heappush(self._timers, (first_ping, next(self._sequence), stream))
                wake = wake or first_ping < self._next_wake
            if wake or not self._service.running():
                self._start_or_wake()

    def remove(self, stream: Watched) -> None:
        """Stop watching ``stream``; call it before the stream's socket is closed."""
        with self._lock:
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
            if self._fds:
                return
            if self._service.running():
                self._service.start_or_wake()  # the thread sees nothing left: it ends soon
            else:
                self._close_selector()  # never started (or its start failed): nothing to wake

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
        """Nothing is watched any more (lock held): drop the selector and the timers."""
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self._timers.clear()
        self._next_wake = math.inf
        self._idle_since = None

    # -- the watcher thread -----------------------------------------------------------------

    def _run(self, wake_r: socket.socket) -> None:
        """The thread's body (``ServiceThread``): wait, serve, until nothing is watched."""
        with self._lock:
            selector = self._selector
            if selector is None or not self._fds:  # every stream left before the thread ran
                self._close_selector()
                self._service.finish()
                return
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
            if self._fds:
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
            self._next_wake = min(self._timers[0][0] if self._timers else math.inf, idle_until)
            timeout = None if self._next_wake == math.inf else max(0.0, self._next_wake - now)
        for key, _ in selector.select(timeout):
            if key.data is None:
                drain_wakeups(wake_r)
            elif key.data in self._fds:
                key.data.on_readable()
        self._fire_timers()
        return True

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
