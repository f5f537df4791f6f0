"""A thread that serves many sockets, started when there is work and woken through a socket pair.

The EventSource watcher and the broadcast writer share this shape: one daemon thread for every
connection of the process instead of one per connection, which exists only while there is
something to do (an idle process keeps no thread and no descriptor), and which another thread
wakes from its ``poll``/``select`` by writing a byte to a socket pair it also watches.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Callable

logger = logging.getLogger("faye_websocket")

WAKE_READ_SIZE = 4096  # wake-up bytes read at a time


class ServiceThread:
    """The thread's lifecycle; every method is called with the owner's ``lock`` held.

    ``body(wake_r)`` runs on the thread with the read end of the socket pair (non-blocking); it
    returns once it has called ``finish()`` (under the lock), having decided that nothing is
    left. A body that raises is logged and finished, so that the next ``start_or_wake`` starts
    a fresh thread.
    """

    def __init__(self, name: str, lock: threading.Lock, body: Callable[[socket.socket], None]) -> None:
        self.name = name
        self._lock = lock  # owner: the caller; guards _thread and _wake_w
        self._body = body
        self._thread: threading.Thread | None = None
        self._wake_w: socket.socket | None = None

    def running(self) -> bool:
        """True while the thread exists."""
        return self._thread is not None

    def start_or_wake(self) -> None:
        """Start the thread, or wake it if it runs (its body sees the read end readable).

        Raises RuntimeError when the thread cannot start (the process is at its thread limit);
        nothing is left half done then (no thread recorded, the socket pair closed), so a later
        call tries again.
        """
        if self._thread is None:
            wake_r, wake_w = socket.socketpair()
            wake_r.setblocking(False)
            thread = threading.Thread(target=self._main, args=(wake_r,), name=self.name, daemon=True)
            try:
                thread.start()  # the body waits for the owner's lock, held by our caller
            except RuntimeError:
                wake_r.close()
                wake_w.close()
                raise
            self._thread, self._wake_w = thread, wake_w
            return
        assert self._wake_w is not None
        try:
            self._wake_w.send(b"\0", socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass  # the pair is full, so the thread is already due to wake

    def finish(self) -> None:
        """The thread is ending: the next ``start_or_wake`` starts a new one."""
        self._thread = None
        if self._wake_w is not None:
            self._wake_w.close()
            self._wake_w = None

    def _main(self, wake_r: socket.socket) -> None:
        try:
            self._body(wake_r)
        except Exception:  # pragma: no cover - a bug here must not pass silently
            logger.exception("%s thread failed", self.name)
            with self._lock:
                self.finish()
        finally:
            wake_r.close()


def drain_wakeups(wake_r: socket.socket) -> None:
    """Read every wake-up byte waiting on ``wake_r`` (non-blocking)."""
    try:
        while wake_r.recv(WAKE_READ_SIZE):
            pass
    except BlockingIOError:
        pass
