"""One shared thread that watches every open EventSource: peer EOF and ping timers.

An event stream never reads from its socket, so a client that goes away is only noticed by
watching for EOF (faye-websocket-ruby #33: the close callback never ran behind nginx). Doing that
with one thread per stream would double the threads of a thread-per-connection server, so a
single selector thread watches all streams and also fires their ping timers. The thread starts
with the first stream and exits when the last one is gone, so idle processes keep no thread and
no file descriptor.

The thread never blocks on a stream: readiness calls and ping writes are non-blocking (see
``faye_websocket.eventsource.writer``), and it calls no user code except close listeners of streams it
closes.
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

logger = logging.getLogger("faye_websocket")
THREAD_NAME = "faye_websocket-eventsource-watcher"
START_FAILURE_LOG_INTERVAL = 10.0  # seconds between two warnings that the thread did not start


class Watched(Protocol):
    """What the watcher needs from a stream. Every method runs on the watcher thread."""

    def watch_fileno(self) -> int:
        """The descriptor to watch for readability (EOF or stray bytes), or -1 if closed."""

    def on_readable(self) -> None:
        """The descriptor is readable: drain it without blocking; close the stream on EOF."""

    def on_ping_timer(self, now: float) -> float | None:
        """A ping is due: send it without blocking; return the next deadline, or None to stop."""


class StreamWatcher:
    """The shared selector thread; ``add`` and ``remove`` are safe from any thread.

    Changes are queued and applied by the watcher thread itself (a selector must not change under
    a running ``select``); the queue keeps their order, so a descriptor number that is closed and
    reused by a new stream is unregistered before it is registered again.

    When the thread cannot start (the process is at its thread limit) nothing is lost: the
    streams stay queued, a warning is logged (at most once per ``START_FAILURE_LOG_INTERVAL``),
    and the next ``add`` starts the thread with all of them. Streams still work meanwhile; only
    pings and the early notice of a departed client wait for the thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # owner: this object; guards _pending, _thread, _wake_w
        self._pending: list[tuple[bool, Watched, float | None]] = []
        self._thread: threading.Thread | None = None
        self._wake_w: socket.socket | None = None
        # A wake-up byte is on its way and the thread has not taken the queue since: changes
        # queued meanwhile ride on it (one system call per batch of adds and removes, not each).
        self._wake_sent = False
        self._sequence = itertools.count()
        self._start_failed_at = -math.inf  # when a failed start was last logged

    def add(self, stream: Watched, first_ping: float | None) -> None:
        """Watch ``stream``; ``first_ping`` is the monotonic time of its first ping (None: never)."""
        with self._lock:
            self._pending.append((True, stream, first_ping))
            if self._thread is None:
                self._start()
            else:
                self._wake()

    def remove(self, stream: Watched) -> None:
        """Stop watching ``stream`` (before its socket is closed, to keep the order of changes)."""
        with self._lock:
            if self._thread is None:
                # Never started (or its start failed): forget the queued add, if any.
                self._pending = [change for change in self._pending if change[1] is not stream]
                return
            self._pending.append((False, stream, None))
            self._wake()

    def running(self) -> bool:
        """True while the watcher thread exists (tests check that it exits when idle)."""
        with self._lock:
            return self._thread is not None

    def _start(self) -> None:
        """Start the thread (called with the lock held); on failure keep the queue for a retry."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        thread = threading.Thread(target=self._run, args=(wake_r,), name=THREAD_NAME, daemon=True)
        try:
            thread.start()  # the thread waits for our lock before it reads _pending
        except RuntimeError as error:  # "can't start new thread"
            wake_r.close()
            wake_w.close()
            now = time.monotonic()
            if now - self._start_failed_at >= START_FAILURE_LOG_INTERVAL:
                self._start_failed_at = now
                logger.warning("faye_websocket: EventSource watcher thread not started (%s); %d "
                               "stream(s) wait for the next attempt", error, len(self._pending))
            return
        self._thread, self._wake_w, self._wake_sent = thread, wake_w, False

    def _wake(self) -> None:
        assert self._wake_w is not None
        if self._wake_sent:
            return  # the thread has yet to take the queue: it sees this change too
        self._wake_sent = True
        try:
            self._wake_w.send(b"\0", socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass  # the pipe is full, so the thread is already due to wake

    def _run(self, wake_r: socket.socket) -> None:
        loop = _Loop(wake_r, self._sequence)
        try:
            while self._apply_pending(loop):
                loop.run_once()
        except Exception:  # pragma: no cover - a bug here must not pass silently
            logger.exception("EventSource watcher thread failed")
            with self._lock:
                # Its streams go back to the queue, so that the next add() watches them again.
                self._pending[:0] = loop.registrations()
                self._thread = None
                if self._wake_w is not None:
                    self._wake_w.close()
                    self._wake_w = None
        finally:
            loop.close()

    def _apply_pending(self, loop: _Loop) -> bool:
        """Apply queued changes; False (and the thread ends) once nothing is watched."""
        with self._lock:
            pending, self._pending = self._pending, []
            self._wake_sent = False  # a change queued from now on needs a wake-up of its own
            for adding, stream, first_ping in pending:
                if adding:
                    loop.register(stream, first_ping)
                else:
                    loop.unregister(stream)
            if loop.empty():
                self._thread = None
                assert self._wake_w is not None
                self._wake_w.close()
                self._wake_w = None
                return False
            return True


class _Loop:
    """The watcher thread's own state: the selector, the watched streams and the ping heap."""

    def __init__(self, wake_r: socket.socket, sequence: itertools.count[int]) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r = wake_r
        self._selector.register(wake_r, selectors.EVENT_READ, None)
        self._fds: dict[Watched, int] = {}
        self._timers: list[tuple[float, int, Watched]] = []
        self._sequence = sequence

    def empty(self) -> bool:
        return not self._fds

    def registrations(self) -> list[tuple[bool, Watched, float | None]]:
        """Every watched stream as a queued add, with its next ping (to start over elsewhere)."""
        pings = {stream: deadline for deadline, _, stream in self._timers if stream in self._fds}
        return [(True, stream, pings.get(stream)) for stream in self._fds]

    def register(self, stream: Watched, first_ping: float | None) -> None:
        fd = stream.watch_fileno()
        if fd < 0:
            return  # closed before the watcher saw it; its removal follows in the queue
        if fd in self._selector.get_map():
            # Only reachable if a closed stream was never removed; the newer stream wins.
            stale = self._selector.unregister(fd).data
            self._fds.pop(stale, None)
        try:
            self._selector.register(fd, selectors.EVENT_READ, stream)
        except OSError:
            # EBADF: the socket was closed between watch_fileno() and here (a handler's socket
            # whose makefile() files kept the descriptor open past the stream's close()); the
            # stream's removal follows in the queue.
            return
        self._fds[stream] = fd
        if first_ping is not None:
            heapq.heappush(self._timers, (first_ping, next(self._sequence), stream))

    def unregister(self, stream: Watched) -> None:
        fd = self._fds.pop(stream, None)
        if fd is None:
            return
        key = self._selector.get_map().get(fd)
        if key is not None and key.data is stream:  # not a newer stream with the same number
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass  # the descriptor is already closed: epoll forgot it

    def run_once(self) -> None:
        timeout = None
        if self._timers:
            timeout = max(0.0, self._timers[0][0] - time.monotonic())
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._drain_wake()
            elif key.data in self._fds:
                key.data.on_readable()
        self._fire_timers()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, stream = heapq.heappop(self._timers)
            if stream not in self._fds:
                continue  # removed: its entry is dropped lazily here
            deadline = stream.on_ping_timer(now)
            if deadline is not None:
                heapq.heappush(self._timers, (deadline, next(self._sequence), stream))

    def close(self) -> None:
        self._selector.close()
        self._wake_r.close()


WATCHER = StreamWatcher()
"""The process-wide watcher shared by every EventSource."""
