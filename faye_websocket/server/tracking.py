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
    """A thread-safe set of live connections; each leaves the set with its close event."""

    def __init__(self) -> None:
        # Weak: a connection whose handler failed before run() never dispatches its close
        # event; once nothing else refers to it, it must not stay here for the server's life.
        self._live: weakref.WeakSet[Tracked] = weakref.WeakSet()
        self._cond = threading.Condition()
        self._closing = False  # close_all() has begun: connections tracked from now on are closed

    def add(self, websocket: Tracked) -> None:
        """Track ``websocket`` (or an EventSource) until its close event (any thread).

        Once ``close_all()`` has begun (a handshake that finished while the server shut down),
        the connection is closed at once instead, so that it does not outlive the server.
        """

        def forget(_event: Any) -> None:
            with self._cond:
                self._live.discard(websocket)
                self._cond.notify_all()

        with self._cond:
            self._live.add(websocket)
            closing = self._closing
        websocket.on("close", forget)
        if websocket.ready_state is ReadyState.CLOSED:
            forget(None)
        elif closing:
            _close(websocket, "server shutting down")

    def __len__(self) -> int:
        with self._cond:
            return len(self._live)

    def close_all(self, reason: str = "server shutting down", grace: float = DEFAULT_SHUTDOWN_GRACE) -> bool:
        """Close every live WebSocket with 1001, wait up to ``grace`` seconds, abort the rest.

        Returns True if every connection finished its closing handshake within ``grace``.
        """
        with self._cond:
            self._closing = True
            live = list(self._live)
        for websocket in live:
            _close(websocket, reason)
        deadline = time.monotonic() + grace
        with self._cond:
            while self._live and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            stragglers = list(self._live)
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
