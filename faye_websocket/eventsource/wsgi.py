"""The EventSource writer for WSGI: a streaming response body that a WSGI server iterates.

WSGI gives an application no socket, so the stream is the response body itself: ``send()`` puts
framed events into a bounded queue and the server's worker thread takes them out, writing and
flushing each block (PEP 3333 requires servers not to buffer yielded blocks). Events that are
queued together leave in one block (up to ``COALESCE_LIMIT`` bytes): nothing waits for more.
Between events the iterator yields the ping comment every ``ping`` seconds; when the client has
gone that write fails and the server calls ``close()``, which fires the close event. Servers that
expose their socket (gunicorn's ``gunicorn.socket``, werkzeug's ``werkzeug.socket``) get the
writer's EOF watching too, so a departed client is noticed at once, without a write.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from typing import Any, Callable, Iterator, Mapping

from ..api import EventTarget
from ..connection.connection import DEFAULT_SEND_TIMEOUT
from ..events import CloseEvent, ReadyState
from ..net.deadline import check_duration
from ..server.takeover import environ_is_secure, request_from_environ, shutdown_tcp
from . import wire
from .watcher import WATCHER
from .writer import peer_gone, stall_limit, watch_view

StartResponse = Callable[..., Any]
DEFAULT_QUEUE_SIZE = 64  # events; a full queue makes send() wait for the client, as a socket would
# Bytes of queued events one iteration may join into one block: the server writes (and flushes)
# each block with one system call; a socket buffer's worth keeps one block's write short.
COALESCE_LIMIT = 64 * 1024
# Where WSGI servers put the client's socket in the environ (not part of PEP 3333).
SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")


class EventSourceResponse(EventTarget):
    """A WSGI response body that streams Server-Sent Events; return it from the application.

    Calls ``start_response`` with ``200 OK`` and faye's headers (without the hop-by-hop
    ``Connection``, which WSGI servers own) plus ``headers``. ``retry``, ``ping``, ``url`` and
    ``last_event_id`` are as in ``EventSource``. ``send`` may be called from any thread and blocks
    while ``queue_size`` events wait to be written; iteration belongs to the server's thread.
    A server that takes nothing for ``send_timeout`` seconds (30 by default; None: no limit), or
    for three ping intervals when pings are on and that is sooner, while events wait (its write
    to a client that reads nothing is blocked) closes the stream, as ``EventSource`` does.
    """

    def __init__(
        self,
        environ: Mapping[str, Any],
        start_response: StartResponse,
        *,
        headers: wire.HeaderInput = None,
        ping: float | None = wire.DEFAULT_PING,
        retry: float | None = wire.DEFAULT_RETRY,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
    ) -> None:
        super().__init__()
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self._ping = check_duration("ping", ping, zero_disables=True)
        self._stall_limit = stall_limit(self._ping, check_duration("send_timeout", send_timeout))
        first = wire.retry_field(retry)
        request = request_from_environ(environ)
        self.url: str = wire.request_url(request, secure=environ_is_secure(environ))
        self.last_event_id: str = wire.last_event_id(request)
        self._queue: deque[bytes] = deque([first] if first else [])
        # When the server last took a block; None until it starts iterating (the application may
        # queue events before it returns the response, which is not a stalled client).
        self._taken_at: float | None = None
        self._size = queue_size
        self._condition = threading.Condition()  # owner: this object; guards _queue and _state
        self._state = ReadyState.OPEN
        start_response("200 OK", wire.wsgi_headers(headers))
        client = _client_socket(environ)
        self._client = client
        self._watch = watch_view(client) if client is not None else None
        self._watch_owned = self._watch is not client  # a plain view of a TLS socket is ours
        if self._watch is not None:
            WATCHER.add(self, None)

    @property
    def ready_state(self) -> ReadyState:
        """OPEN until ``close()`` (by the application or the server), then CLOSED."""
        return self._state

    def send(self, message: str, *, event: str | None = None, id: str | int | None = None) -> bool:
        """Queue one event for the server to write; False once closed.

        Waits while the queue is full; a queue that stays full for ``send_timeout`` while the
        server takes nothing closes the stream and returns False. Raises
        TypeError/ValueError as ``format_event`` does.
        """
        return self._put(wire.format_event(message, event=event, id=id))

    def ping(self) -> bool:
        """Queue a comment line; False once closed."""
        return self._put(wire.PING_COMMENT)

    def _put(self, data: bytes) -> bool:
        with self._condition:
            while self._state is ReadyState.OPEN and len(self._queue) >= self._size:
                remaining = self._until_stalled()
                if remaining is not None and remaining <= 0:
                    break
                self._condition.wait(remaining)
            else:
                if self._state is not ReadyState.OPEN:
                    return False
                self._queue.append(data)
                self._condition.notify_all()
                return True
        self._stalled()
        return False

    def _until_stalled(self) -> float | None:
        """Seconds until a server that takes nothing counts as stuck (None: not yet, or no limit)."""
        if self._stall_limit is None or self._taken_at is None:
            return None
        return self._taken_at + self._stall_limit - time.monotonic()

    def _stalled(self) -> None:
        """The server's write has been blocked for several ping intervals: the client reads nothing.

        Close the stream (so senders get False) and, where the server's socket is known, shut the
        connection down, which wakes the server's blocked write; without it (wsgiref) the server's
        thread stays in its write until the client goes.
        """
        with self._condition:
            self._queue.clear()  # nothing queued can reach this client; free the memory now
        # Only if this call closed it: a response closed meanwhile may have ended normally, and
        # the server may already be reading the client's next request on that connection.
        if self.close() and self._client is not None:
            shutdown_tcp(self._client)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        """The next block for the server: the queued events (one block), a ping when idle,
        StopIteration after close.

        The very first block is a comment when nothing is queued yet (``retry=None``), so that the
        server sends the head at once.
        """
        with self._condition:
            if self._taken_at is None:
                self._taken_at = time.monotonic()
                if not self._queue and self._state is ReadyState.OPEN:
                    # The server sends the head with the first non-empty block (PEP 3333): with no
                    # retry field and no event yet, a comment lets the client see the stream open.
                    return wire.PING_COMMENT
            deadline = time.monotonic() + self._ping if self._ping else None
            while not self._queue and self._state is ReadyState.OPEN:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return wire.PING_COMMENT
                self._condition.wait(remaining)
            if not self._queue:
                raise StopIteration
            data = self._take_block()
            self._taken_at = time.monotonic()
            self._condition.notify_all()
            return data

    def _take_block(self) -> bytes:
        """The next queued event, joined with those queued behind it up to ``COALESCE_LIMIT`` bytes
        (condition held): events that wait already leave in one write, none is held back."""
        queue = self._queue
        data = queue.popleft()
        if not queue or len(data) >= COALESCE_LIMIT:
            return data
        parts, size = [data], len(data)
        while queue and size + len(queue[0]) <= COALESCE_LIMIT:
            data = queue.popleft()
            parts.append(data)
            size += len(data)
        return b"".join(parts)

    def close(self) -> bool:
        """End the stream: events already queued are still yielded, then iteration stops.

        The WSGI server calls this when the response ends (also when the client has gone); the
        close event fires once, on the calling thread. Returns False if already closed.
        """
        with self._condition:
            if self._state is ReadyState.CLOSED:
                return False
            self._state = ReadyState.CLOSED
            self._condition.notify_all()
        if self._watch is not None:
            WATCHER.remove(self)  # before the server closes the socket, so its number is free
            if self._watch_owned:
                self._watch.close()
        self.dispatch_event(CloseEvent(None))
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until closed (or ``timeout`` seconds pass); True if closed."""
        with self._condition:
            return self._condition.wait_for(lambda: self._state is ReadyState.CLOSED, timeout)

    # The watcher thread's side (eventsource_watcher.Watched), used when the socket is known.

    def watch_fileno(self) -> int:
        """The descriptor the watcher polls for the client's EOF, -1 once closed."""
        return -1 if self._watch is None or self._state is ReadyState.CLOSED else self._watch.fileno()

    def on_readable(self) -> None:
        """The client sent something or left; close the stream if it left."""
        if self._watch is not None and peer_gone(self._watch):
            self.close()

    def on_ping_timer(self, now: float) -> float | None:
        """Unused: the iterator yields the pings on the server's thread."""
        return None


def _client_socket(environ: Mapping[str, Any]) -> socket.socket | None:
    """The server's client socket, when the environ exposes one."""
    for key in SOCKET_KEYS:
        sock = environ.get(key)
        if isinstance(sock, socket.socket) and sock.fileno() >= 0:
            return sock
    return None
