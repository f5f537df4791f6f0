"""The public WebSocket API shared by the server-side WebSocket and the Client.

``EventTarget`` gives faye's event model in Python names: ``on/off/once(type, fn)`` and the
``onopen``, ``onmessage``, ``onerror`` and ``onclose`` attributes (the attribute handler runs
first, then the listeners in the order they were added). ``WebSocketAPI`` adds ``send``,
``ping``, ``close``, the read-only properties, ``run()``, ``recv()``, iteration and the
context-manager protocol, all delegated to a ``Connection`` (connection.py).

Threading: listeners run on the connection's reading thread with no lock held, so they may call
``send``, ``ping`` and ``close``. A listener that raises is logged on the "faye_websocket"
logger and the connection lives on.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any, Callable, Iterator, TypeVar

from .connection.connection import Connection
from .errors import ConnectionClosed
from .events import CloseEvent, Event, PongEvent, ReadyState
from .rfc6455 import APPLICATION_CODES, CloseCode, check_close_reason, check_ping_payload

logger = logging.getLogger("faye_websocket")

Listener = Callable[[Any], object]
_API = TypeVar("_API", bound="WebSocketAPI")
EVENT_TYPES = ("open", "message", "error", "close", "ping", "pong")


class EventTarget:
    """Listeners by event type, plus the ``on<type>`` attributes; dispatch never raises."""

    onopen: Listener | None = None
    onmessage: Listener | None = None
    onerror: Listener | None = None
    onclose: Listener | None = None
    onping: Listener | None = None
    onpong: Listener | None = None

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._listeners_lock = threading.Lock()  # guards _listeners against on/off from any thread

    def on(self, type: str, listener: Listener) -> None:
        """Call ``listener(event)`` for every event of ``type`` ("open", "message", ...)."""
        _check_type(type)
        with self._listeners_lock:
            self._listeners.setdefault(type, []).append(listener)

    def off(self, type: str, listener: Listener | None = None) -> None:
        """Remove ``listener`` (its first registration), or every listener of ``type`` if None."""
        _check_type(type)
        with self._listeners_lock:
            listeners = self._listeners.get(type, [])
            if listener is None:
                listeners.clear()
            elif listener in listeners:
                listeners.remove(listener)
            else:
                for registered in listeners:
                    if getattr(registered, "__wrapped__", None) is listener:
                        listeners.remove(registered)
                        break

    def once(self, type: str, listener: Listener) -> None:
        """Like ``on``, but the listener is removed before its first call."""

        def wrapper(event: Any) -> object:
            self.off(type, wrapper)
            return listener(event)

        wrapper.__wrapped__ = listener  # type: ignore[attr-defined]
        self.on(type, wrapper)

    def dispatch_event(self, event: Event) -> None:
        """Call the ``on<type>`` attribute, then the listeners; log (never raise) their errors."""
        with self._listeners_lock:
            listeners = list(self._listeners.get(event.type, ()))
        handler = getattr(self, "on" + event.type, None)
        for listener in ([handler] if handler is not None else []) + listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("faye_websocket: %s listener %r raised", event.type, listener)


def _check_type(type: str) -> None:
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}; expected one of {', '.join(EVENT_TYPES)}")


class WebSocketAPI(EventTarget):
    """What a server-side WebSocket and a Client have in common.

    Subclasses build the driver and the Connection and pass it to ``_init_connection``; its
    ``on_event`` must be ``self._handle_event``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._connection: Connection | None = None
        self._ping_callbacks: dict[bytes, list[Callable[[], object]]] = {}
        self._ping_lock = threading.Lock()  # guards _ping_callbacks (pings from any thread)

    def _init_connection(self, connection: Connection) -> None:
        self._connection = connection

    def _has_message_listener(self) -> bool:
        """True when a message event would reach user code (``onmessage`` or a listener)."""
        return self.onmessage is not None or bool(self._listeners.get("message"))

    @property
    def connection(self) -> Connection:
        """The Connection carrying this WebSocket."""
        if self._connection is None:
            raise RuntimeError("the connection is not set up yet")
        return self._connection

    # -- properties ---------------------------------------------------------------------------

    @property
    def ready_state(self) -> ReadyState:
        """CONNECTING, OPEN, CLOSING or CLOSED (CLOSED once the close event has been dispatched)."""
        return self.connection.state

    @property
    def protocol(self) -> str:
        """The subprotocol the handshake chose, or "" (also "" before the connection opens)."""
        return str(getattr(self.connection.driver, "protocol", ""))

    @property
    def version(self) -> str:
        """The protocol version: "hybi-13", "hixie-76" or "hixie-75"."""
        return str(getattr(self.connection.driver, "version", "hybi-13"))

    @property
    def url(self) -> str:
        """The WebSocket URL (the server builds it from the Host header and the request path)."""
        return self.connection.url

    @property
    def buffered_amount(self) -> int:
        """Bytes accepted by ``send`` but not yet written to the socket (usually 0: sends block)."""
        return self.connection.buffered_amount

    # -- operations ---------------------------------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Send ``str`` as a text message or bytes-like data as a binary message.

        Blocks until the frame is written to the socket (a peer that stops reading makes this
        wait, up to the send timeout). Returns False once the connection is closing or closed,
        or when the write failed. Any thread. TypeError for other types.
        """
        if not isinstance(data, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"send() takes str or bytes-like data, not {type(data).__name__}")
        return self.connection.send(data)

    def ping(self, message: str | bytes = b"", callback: Callable[[], object] | None = None) -> bool:
        """Send a ping; ``callback()`` runs (on the reading thread) when a pong with the same payload
        arrives, or a pong answering a later ping (RFC 6455 section 5.5.3 lets a peer answer only
        the most recent one). Callbacks still waiting when the connection closes are dropped.
        Returns False when pings are impossible (hixie drafts, closing). Any thread.

        ValueError for a payload over 125 bytes.
        """
        payload = check_ping_payload(message.encode("utf-8") if isinstance(message, str) else bytes(message))
        if callback is not None:
            with self._ping_lock:
                self._ping_callbacks.setdefault(payload, []).append(callback)
        sent = self.connection.ping(payload)
        if not sent and callback is not None:
            with self._ping_lock:
                callbacks = self._ping_callbacks.get(payload, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._ping_callbacks.pop(payload, None)
        return sent

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake; the close event follows (at most ``close_timeout`` later).

        ValueError unless ``code`` is 1000 or 3000-4999 (the browser rule faye keeps) and
        ``reason`` fits in 123 bytes of UTF-8. Idempotent; safe from any thread; never blocks on a
        stuck writer. When nobody reads the connection (a ``recv()`` user), this call reads until
        the peer answers, so the close event has been dispatched when it returns.
        """
        _check_close(code, reason)
        self.connection.close(code, reason)

    def run(self) -> None:
        """The reader loop on the calling thread: dispatch events until the connection is CLOSED.

        Returns after the close event has been dispatched and the socket closed. InvalidState if
        another ``run()`` is already reading; a ``close()`` or ``recv()`` reading on another
        thread is waited for (recv() hands the socket over after its next read, and messages
        then reach it through run()'s queue).
        """
        self.connection.run()

    def recv(self, timeout: float | None = None) -> str | bytes:
        """The next message (str for text, bytes for binary), blocking up to ``timeout`` seconds.

        Raises ConnectionClosed (with the close code and reason) once the connection is closed,
        TimeoutError when ``timeout`` passes. Without a reader loop the calling thread reads the
        socket itself (and listeners run on it); with ``run()`` on another thread, messages
        arriving after the first ``recv()`` call are queued for it.
        """
        return self.connection.recv(timeout)

    def __iter__(self) -> Iterator[str | bytes]:
        """Yield messages until the connection closes (for any close code)."""
        while True:
            try:
                yield self.recv()
            except ConnectionClosed:
                return

    def __enter__(self: _API) -> _API:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # A failing block closes with 1011 (internal error), which close() itself refuses to users.
        self.connection.close(CloseCode.NORMAL_CLOSURE if exc_type is None else CloseCode.INTERNAL_ERROR, "")

    # -- events -------------------------------------------------------------------------------

    def _answered_callbacks(self, payload: bytes) -> list[Callable[[], object]]:
        """Callbacks a pong with ``payload`` answers: its ping's and every earlier ping's.

        Called with _ping_lock held. A peer may pong only the most recent of several pings
        (RFC 6455 section 5.5.3), so the earlier ones are answered too; without this their
        callbacks would wait forever. The dict keeps pings in the order they were first sent.
        """
        if payload not in self._ping_callbacks:
            return []  # an unsolicited pong (section 5.5.3) answers nothing
        answered: list[Callable[[], object]] = []
        for sent in list(self._ping_callbacks):
            answered.extend(self._ping_callbacks.pop(sent))
            if sent == payload:
                break
        return answered

    def _handle_event(self, event: Event) -> None:
        """The Connection's on_event: run ping callbacks for a pong, then dispatch."""
        if isinstance(event, PongEvent):
            with self._ping_lock:
                callbacks = self._answered_callbacks(event.data)
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    logger.exception("faye_websocket: ping callback %r raised", callback)
        elif isinstance(event, CloseEvent):
            with self._ping_lock:
                self._ping_callbacks.clear()  # no pong can come now: let the callbacks go
        self.dispatch_event(event)


def _check_close(code: int, reason: str) -> None:
    if not isinstance(code, int) or (code != CloseCode.NORMAL_CLOSURE and code not in APPLICATION_CODES):
        raise ValueError(f"Failed to execute 'close' on WebSocket: The code must be either 1000, "
                         f"or between 3000 and 4999. {code} is neither.")
    check_close_reason(reason)
