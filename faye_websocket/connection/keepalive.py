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
"""

from __future__ import annotations

import select
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import Connection

IDLE_WAIT = 1.0  # seconds between looks at the connection when no timer is armed
BUSY_WAIT = 0.2  # seconds to stay away while another thread reads (it answers pings meanwhile)
MIN_WAIT = 0.001  # seconds; a timer just due is looked at again no sooner than this


class Keepalive:
    """The background reader of one connection; ``start()`` once OPEN, ``stop()`` before closing.

    ``stop()`` is safe from any thread (from a listener on the keepalive thread too: it then does
    not wait for itself) and returns once the thread no longer reads, at most ``timeout`` later.
    """

    def __init__(self, connection: Connection, name: str) -> None:
        self._connection = connection
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread (once)."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading; returns at once, from any thread.

        The thread ends at its next look (within ``IDLE_WAIT``) after at most one more read,
        which never blocks and which ``Connection.close`` waits for; so a ``close()`` after this
        is not held up by the thread's poll. (``timeout`` is kept for callers; nothing waits.)
        """
        self._stopped.set()

    def _run(self) -> None:
        connection = self._connection
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
