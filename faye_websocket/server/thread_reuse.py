"""Handler threads that serve one connection after another: a thread cache for socketserver.

``socketserver.ThreadingMixIn`` starts a thread for every connection and lets it end with the
connection. Starting one is the largest single cost of a short connection (measured: 125-143 us
of the accepting thread's time per connection, plus the new thread's start-up, for a WebSocket
opened and closed in about 1 ms): the accepting thread waits until the new thread runs.

``ThreadReuseMixIn`` (between ``AdmissionMixIn`` and ``ThreadingMixIn`` in a server's bases) keeps
a thread whose connection has ended waiting, for ``idle_thread_timeout`` seconds at most, for the
next connection the server accepts; only when no thread is waiting is a new one started. The
model stays thread-per-connection: a thread serves one connection at a time, so a thousand
concurrent connections still have a thousand threads; only the thread of a connection that has
ended is used again, for a later one. At most ``max_idle_threads`` threads wait at once (the
rest end with their connection), and each waits a bounded time, so a burst leaves nothing
behind. ``server_close()`` wakes and joins the waiting threads; threads still serving a
connection end when it does.

One difference from a fresh thread per connection: a ``threading.local`` set while serving one
connection is still set when the same thread serves the next one.
"""

from __future__ import annotations

import threading
import time
from typing import Any

DEFAULT_IDLE_THREAD_TIMEOUT = 2.0  # seconds an idle handler thread waits for a next connection
DEFAULT_MAX_IDLE_THREADS = 32  # handler threads kept waiting at once; the rest end
STOP_JOIN_TIMEOUT = 1.0  # seconds server_close() waits for the idle threads it woke, in all

Job = tuple[Any, Any]  # (request, client_address), as socketserver passes them


class _Idle:
    """One waiting thread: it sleeps on ``wake`` until the accepting thread gives it a ``job``
    (or None: stop)."""

    __slots__ = ("job", "thread", "wake")

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()  # held: the waiting thread blocks on it until a release
        self.job: Job | None = None
        self.thread = threading.current_thread()


class ThreadReuseMixIn:
    """Reuse handler threads for later connections (see the module docstring).

    Class attributes (set on a subclass, or on the instance before serving):
    ``idle_thread_timeout`` (seconds a thread whose connection ended waits for the next one;
    None or 0: off, a new thread per connection as ``ThreadingMixIn``) and
    ``max_idle_threads`` (threads kept waiting at once).
    """

    idle_thread_timeout: float | None = None
    max_idle_threads: int = DEFAULT_MAX_IDLE_THREADS
    daemon_threads: bool
    block_on_close: bool

    def _thread_reuse_init(self) -> None:
        self._idle: list[_Idle] = []  # newest last: it takes the next connection (a warm stack)
        self._idle_lock = threading.Lock()  # owner: this mixin; guards the three fields here
        self._reuse_stopping = False
        # Non-daemon handler threads, joined by server_close() as ThreadingMixIn joins its own.
        self._lasting: set[threading.Thread] = set()

    @property
    def idle_threads(self) -> int:
        """Handler threads waiting for a connection now (any thread)."""
        return len(self._idle)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Hand the connection to a waiting handler thread, or start one (ThreadingMixIn's way,
        when reuse is off). RuntimeError when a thread cannot be started."""
        timeout = self.idle_thread_timeout
        if not timeout or timeout <= 0:
            super().process_request(request, client_address)  # type: ignore[misc]
            return
        with self._idle_lock:
            if self._idle:
                idle = self._idle.pop()
                # Under the lock, so that a thread whose wait has just timed out either finds
                # itself still listed (and leaves) or finds the job already given (and takes it).
                idle.job = (request, client_address)
                idle.wake.release()
                return
        thread = threading.Thread(target=self._serve_connections, args=(request, client_address),
                                  name=f"{type(self).__name__}-handler")
        thread.daemon = self.daemon_threads
        if not thread.daemon:
            with self._idle_lock:
                self._lasting.add(thread)
        thread.start()

    def _serve_connections(self, request: Any, client_address: Any) -> None:
        """A handler thread's body: serve this connection, then the next ones handed over."""
        job: Job | None = (request, client_address)
        idle: _Idle | None = None
        try:
            while job is not None:
                self.process_request_thread(*job)  # type: ignore[attr-defined]
                job = None  # nothing of the finished connection stays referenced while waiting
                if idle is None:
                    idle = _Idle()
                job = self._wait_for_job(idle)
        finally:
            with self._idle_lock:
                self._lasting.discard(threading.current_thread())

    def _wait_for_job(self, idle: _Idle) -> Job | None:
        """The next connection for this thread, or None: time to end (timeout, full, stopping)."""
        with self._idle_lock:
            if self._reuse_stopping or len(self._idle) >= self.max_idle_threads:
                return None
            self._idle.append(idle)
        timeout = self.idle_thread_timeout or 0.0
        if not idle.wake.acquire(timeout=timeout):
            with self._idle_lock:
                if idle in self._idle:  # nobody took us: end
                    self._idle.remove(idle)
                    return None
            # Taken just as the wait ended: the job was given, and wake released, under the lock.
            idle.wake.acquire(blocking=False)
        job, idle.job = idle.job, None
        return job

    def server_close(self) -> None:
        """Wake the waiting handler threads (they end) and join them, bounded; then close.

        Non-daemon handler threads still serving are joined too when ``block_on_close`` is set,
        without a bound, as ``ThreadingMixIn`` does.
        """
        with self._idle_lock:
            self._reuse_stopping = True
            waiting, self._idle = self._idle, []
            for idle in waiting:
                idle.wake.release()  # no job: the thread ends
            lasting = list(self._lasting) if self.block_on_close else []
        deadline = time.monotonic() + STOP_JOIN_TIMEOUT
        for idle in waiting:
            idle.thread.join(max(0.0, deadline - time.monotonic()))
        for thread in lasting:
            thread.join()
        super().server_close()  # type: ignore[misc]
