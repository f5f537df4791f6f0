"""Live-connection tracking for servers, so that a shutdown closes connections instead of hanging.

A thread-per-connection server cannot stop while its handler threads sit in ``run()``: each
waits for its peer. ``ConnectionTracker`` remembers every live WebSocket (and EventSource stream),
and ``close_all()`` closes them (WebSockets with 1001, going away), waits a bounded time for the
closing handshakes, then aborts whatever is left, so every handler returns.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any, Callable, Protocol, Union

from ..api import WebSocketAPI
from ..events import ReadyState
from ..rfc6455 import CloseCode


class Stream(Protocol):
    """A connection that is not a WebSocket but ends with a close event: an EventSource."""

    @property
    def ready_state(self) -> ReadyState:
        """CLOSED once it has ended."""

    def on(self, type: str, listener: Callable[[Any], object]) -> None:
        """Call ``listener`` on the close event."""

    def close(self) -> bool:
        """End it now."""


Tracked = Union[WebSocketAPI, Stream]

DEFAULT_SHUTDOWN_GRACE = 5.0  # seconds for peers to answer our close frame before we cut TCP
# socketserver listens with a backlog of 5: a burst of clients reconnecting after a restart would
# see SYN retries (1 s, 3 s...). 128 is the Linux default somaxconn of older kernels.
LISTEN_BACKLOG = 128


class ConnectionTracker:
    """A thread-safe set of live connections: those not CLOSED that something still refers to.

    Tracking a connection costs one weak set entry and nothing when it closes: the set is read
    only by ``len()`` and ``close_all()``, which leave the CLOSED ones out (and a freed one has
    left the set by itself). Only a shutdown in progress needs to hear of each close, so only
    ``close_all()`` adds a close listener, to the connections it waits for; leaving then takes no
    lock shared by all connections but while a shutdown waits (when thousands of clients vanish
    at once, one process-wide lock turned their exits into a convoy).
    """

    def __init__(self) -> None:
        # Weak: a connection whose handler failed before run() never dispatches its close
        # event; once nothing else refers to it, it must not stay here for the server's life.
        # Single C-level set operations on it are atomic under the interpreter lock; iterating
        # goes through a copy (_snapshot) so that a concurrent add or discard cannot break it.
        self._live: weakref.WeakSet[Tracked] = weakref.WeakSet()
        self._cond = threading.Condition()  # owner: close_all() waits on it; it sets _closing
        self._closing = False  # close_all() has begun: connections tracked from now on are closed

    def add(self, websocket: Tracked) -> None:
        """Track ``websocket`` (or an EventSource) until it is CLOSED (any thread).

        Once ``close_all()`` has begun (a handshake that finished while the server shut down),
        the connection is closed at once instead, so that it does not outlive the server.
        """
        # No lock: close_all() sets _closing before it takes its snapshot, so a connection added
        # before the flag is read here is either in that snapshot or closed below (at worst
        # both: a second close does nothing). Every handshake passes here.
        self._live.add(websocket)
        if self._closing:
            self._watch(websocket)
            _close(websocket, "server shutting down")

    def _watch(self, websocket: Tracked) -> None:
        """During a shutdown: drop ``websocket`` with its close event and wake close_all()."""
        # A weak reference: the listener is kept by the connection it forgets, and a strong one
        # would make the connection a reference cycle that only a garbage collection frees.
        ref = weakref.ref(websocket)

        def forget(_event: Any) -> None:
            tracked = ref()
            if tracked is not None:
                self._live.discard(tracked)
            with self._cond:
                self._cond.notify_all()

        websocket.on("close", forget)

    def __len__(self) -> int:
        return len(self._snapshot())

    def _snapshot(self) -> list[Tracked]:
        # set.copy() runs in C without releasing the interpreter lock: a consistent view. A
        # connection that closed but is still referred to somewhere is no longer live.
        refs = self._live.data.copy()  # type: ignore[attr-defined]
        return [item for item in (ref() for ref in refs)
                if item is not None and item.ready_state is not ReadyState.CLOSED]

    def close_all(self, reason: str = "server shutting down", grace: float = DEFAULT_SHUTDOWN_GRACE) -> bool:
        """Close every live WebSocket with 1001, wait up to ``grace`` seconds, abort the rest.

        Returns True if every connection finished its closing handshake within ``grace``.
        """
        with self._cond:
            self._closing = True
        for websocket in self._snapshot():
            # The listener comes first: a close event dispatched before it was added made the
            # connection CLOSED, which the wait below sees without being woken.
            self._watch(websocket)
            _close(websocket, reason)
        deadline = time.monotonic() + grace
        with self._cond:
            while self._snapshot() and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
        stragglers = self._snapshot()
        for websocket in stragglers:
            if isinstance(websocket, WebSocketAPI):
                websocket.connection.abort("server shut down")
        return not stragglers


def _close(connection: Tracked, reason: str) -> None:
    if isinstance(connection, WebSocketAPI):
        # wait=False: a WebSocket whose handler has not started reading must not make this
        # thread read it (for up to close_timeout, one connection after another).
        connection.connection.close(CloseCode.GOING_AWAY, reason, wait=False)
    else:
        connection.close()  # an event stream has no closing handshake
