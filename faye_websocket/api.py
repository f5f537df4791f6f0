"""The public WebSocket API shared by the server-side WebSocket and the Client.

``EventTarget`` gives faye's event model in Python names: ``on/off/once(type, fn)`` and the
``onopen``, ``onmessage``, ``onerror`` and ``onclose`` attributes (the attribute handler runs
first, then the listeners in the order they were added). ``WebSocketAPI`` adds ``send``,
``ping``, ``close``, the read-only properties, ``run()``, ``recv()``, iteration and the
context-manager protocol, all delegated to a ``Connection`` (connection.py).

Threading: listeners run on the connection's reading thread with no lock held, so they may call
``send``, ``ping`` and ``close`` (on ``event.target``, the connection that dispatched the event).
A listener that raises is logged on the "faye_websocket" logger and the connection lives on.

Logging (logs.py): each connection has an id (``log_id``); at DEBUG its handshake heads (with
credentials masked), errors and close are logged with it, and with ``logs.trace_frames(True)``
every message, ping, pong and close in and out on the ``faye_websocket.frames`` logger.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Callable, Iterator, TypeVar

from . import logs
from .connection.connection import Connection
from .connection.roles import Side
from .errors import ConnectionClosed
from .events import (
    CloseEvent,
    ErrorEvent,
    Event,
    MessageEvent,
    OpenEvent,
    PongEvent,
    ReadyState,
    with_target,
)
from .rfc6455 import CloseCode, check_close_reason, check_ping_payload, is_valid_wire_close_code

logger = logs.logger

Listener = Callable[[Any], object]
_API = TypeVar("_API", bound="WebSocketAPI")
EVENT_TYPES = ("open", "message", "error", "close", "ping", "pong")
_HANDLER_NAMES = {type: "on" + type for type in EVENT_TYPES}  # event type -> on<type> attribute
_new_object = object.__new__
_MESSAGE_TYPES = (str, bytes, bytearray, memoryview)  # what send() takes; built once, not per call


class EventTarget:
    """Listeners by event type, plus the ``on<type>`` attributes; dispatch never raises."""

    onopen: Listener | None = None
    onmessage: Listener | None = None
    onerror: Listener | None = None
    onclose: Listener | None = None
    onping: Listener | None = None
    onpong: Listener | None = None

    def __init__(self) -> None:
        # Tuples, replaced (never changed) by on/off under the lock: dispatch reads them without it.
        self._listeners: dict[str, tuple[Listener, ...]] = {}
        self._listeners_lock = threading.Lock()  # serialises on/off from any thread

    def on(self, type: str, listener: Listener) -> None:
        """Call ``listener(event)`` for every event of ``type`` ("open", "message", ...)."""
        _check_type(type)
        with self._listeners_lock:
            self._listeners[type] = self._listeners.get(type, ()) + (listener,)

    def off(self, type: str, listener: Listener | None = None) -> None:
        """Remove ``listener`` (its first registration), or every listener of ``type`` if None."""
        _check_type(type)
        with self._listeners_lock:
            listeners = list(self._listeners.get(type, ()))
            if listener is None:
                listeners.clear()
            elif listener in listeners:
                listeners.remove(listener)
            else:
                for registered in listeners:
                    if getattr(registered, "__wrapped__", None) is listener:
                        listeners.remove(registered)
                        break
            self._listeners[type] = tuple(listeners)

    def once(self, type: str, listener: Listener) -> None:
        """Like ``on``, but the listener is removed before its first call."""

        def wrapper(event: Any) -> object:
            self.off(type, wrapper)
            return listener(event)

        wrapper.__wrapped__ = listener  # type: ignore[attr-defined]
        self.on(type, wrapper)

    def dispatch_event(self, event: Event) -> None:
        """Set ``event.target`` to this object (unless set), call the ``on<type>`` attribute, then
        the listeners; log (never raise) their errors."""
        if event.target is None:
            with_target(event, self)
        listeners = self._listeners.get(event.type, ())  # as they were when the event came
        handler = getattr(self, _HANDLER_NAMES.get(event.type) or "on" + event.type, None)
        if handler is not None:
            self._call(handler, event)
        for listener in listeners:
            self._call(listener, event)

    @staticmethod
    def _call(listener: Listener, event: Event) -> None:
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
        self.log_id = ""  # set with the connection: "c<n>" or "s<n>", the start of its log lines
        self._trace = False  # the frame trace, decided once per connection (logs.trace_frames)
        self._ping_callbacks: dict[bytes, list[Callable[[], object]]] = {}
        self._ping_lock = threading.Lock()  # guards _ping_callbacks (pings from any thread)

    def _init_connection(self, connection: Connection) -> None:
        self._connection = connection
        self.log_id = logs.connection_id(connection.side is Side.CLIENT)
        self._trace = logs.frame_trace_enabled()
        # The connection's fast lane hands messages to _handle_message, which does for a message
        # exactly what _handle_event and dispatch_event do; a subclass that handles or dispatches
        # events itself gets every event through them.
        cls = type(self)
        plain = cls._handle_event is WebSocketAPI._handle_event
        if plain and cls.dispatch_event is EventTarget.dispatch_event:
            connection.on_message = self._handle_message

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

    @property
    def close_code(self) -> int | None:
        """The close event's code once CLOSED (the peer's, 1005 for a close frame without one,
        1006 when the connection ended without a closing handshake); None before."""
        event = self.connection.close_event
        return None if event is None else event.code

    @property
    def close_reason(self) -> str | None:
        """The close event's reason once CLOSED ("" when none was given); None before."""
        event = self.connection.close_event
        return None if event is None else event.reason

    @property
    def was_clean(self) -> bool | None:
        """True once CLOSED after a completed closing handshake, False after anything else
        (a dropped connection, a timeout); None before."""
        event = self.connection.close_event
        return None if event is None else event.was_clean

    # -- operations ---------------------------------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Send ``str`` as a text message or bytes-like data as a binary message.

        Blocks until the frame is written to the socket (a peer that stops reading makes this
        wait, up to the send timeout). A listener's send on the reading thread, while more
        events of the same read wait for dispatch, returns at once: its frame leaves with their
        replies in one write after them, before the thread reads again. Returns False once the
        connection is closing or closed, or when the write failed. Any thread. TypeError for
        other types.
        """
        if not isinstance(data, _MESSAGE_TYPES):
            raise TypeError(f"send() takes str or bytes-like data, not {type(data).__name__}")
        if self._trace:
            logs.frame_logger.debug("%s send %s", self.log_id, logs.describe(bytes(data) if
                                    isinstance(data, (bytearray, memoryview)) else data))
        connection = self._connection  # the property's check, without its call on the hot path
        if connection is None:
            raise RuntimeError("the connection is not set up yet")
        return connection.send(data)

    def send_or_raise(self, data: str | bytes | bytearray | memoryview) -> None:
        """Like ``send``, but a message that cannot be sent raises instead of returning False.

        ConnectionClosed (with the close code and reason once known; 1006 for a failed write)
        when the connection is closing or closed. A message that was written may still be lost
        with the connection: only the peer's answer proves delivery, so a sender that must not
        lose one keeps it until acknowledged and sends it again after reconnecting. Any thread.
        """
        if not self.send(data):
            event = self.connection.close_event
            if event is None:
                raise ConnectionClosed(CloseCode.ABNORMAL_CLOSURE, "the connection is closing or broken")
            raise ConnectionClosed(event.code if event.code is not None else CloseCode.ABNORMAL_CLOSURE,
                                   event.reason)

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

        ValueError unless ``code`` may be sent on the wire (RFC 6455 section 7.4: 1000-1003,
        1007-1014, 3000-4999; 1005, 1006 and 1015 are reserved for reporting) and ``reason``
        fits in 123 bytes of UTF-8. Idempotent; safe from any thread; never blocks on a
        stuck writer. When nobody reads the connection (a ``recv()`` user), this call reads until
        the peer answers, so the close event has been dispatched when it returns.
        """
        _check_close(code, reason)
        self._before_close()
        self.connection.close(code, reason)

    def _before_close(self) -> None:
        """Called by ``close()`` once its arguments are valid (a client stops its keepalive)."""

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
        # A failing block closes with 1011 (internal error, RFC 6455 section 7.4.1).
        self._before_close()
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
        """The Connection's on_event: run ping callbacks for a pong, log, then dispatch."""
        if self._trace:
            self._trace_event(event)
        if isinstance(event, MessageEvent):  # the common event: nothing to do but dispatch
            self.dispatch_event(event)
            return
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
            if logs.debug_enabled():
                logger.debug("%s closed: code %s, reason %r, %s", self.log_id, event.code, event.reason,
                             "clean" if event.was_clean else "not clean")
        elif isinstance(event, (OpenEvent, ErrorEvent)) and logs.debug_enabled():
            self._log_event(event)
        self.dispatch_event(event)

    def _handle_message(self, data: str | bytes) -> bool:
        """The connection's fast lane for a message (reading thread): what ``_handle_event`` and
        ``dispatch_event`` do for a MessageEvent, in one call. False when nothing listens."""
        # MessageEvent(data, target=self) at a third of the cost: a frozen dataclass's __init__
        # sets each field through object.__setattr__, stores into the new instance's __dict__
        # make the same object (equal, same repr, still frozen against later changes).
        event: MessageEvent = _new_object(MessageEvent)
        fields = event.__dict__  # two stores: cheaper than update()'s keyword arguments
        fields["data"] = data
        fields["target"] = self
        if self._trace:
            self._trace_event(event)
        handler = self.onmessage
        listeners = self._listeners.get("message", ())  # as they were when the event came
        if handler is None:
            if not listeners:
                return False
        else:
            self._call(handler, event)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("faye_websocket: %s listener %r raised", "message", listener)
        return True

    def _log_event(self, event: OpenEvent | ErrorEvent) -> None:
        """DEBUG lines for an open (the handshake heads) or an error event."""
        if isinstance(event, ErrorEvent):
            logger.debug("%s error: %s", self.log_id, event.message)
            return
        for head in self._handshake_heads():
            logger.debug("%s %s", self.log_id, logs.masked_head(head))

    def _handshake_heads(self) -> list[str]:
        """The opening handshake's heads, request first, for the debug log (server side here)."""
        request = getattr(self.connection.driver, "request", None)
        if request is None:
            return []
        lines = [f"{request.method} {request.target} {request.version}"]
        lines += [f"{name}: {value}" for name, value in request.headers]
        return ["\r\n".join(lines), f"HTTP/1.1 101 Switching Protocols ({self.version})"]

    def _trace_event(self, event: Event) -> None:
        data = getattr(event, "data", None)
        if isinstance(event, CloseEvent):
            detail = f"close {event.code} {event.reason!r}"
        elif data is None:
            detail = event.type
        elif isinstance(event, MessageEvent):
            detail = logs.describe(data)
        else:
            detail = f"{event.type} {len(data)} B"
        logs.frame_logger.debug("%s recv %s", self.log_id, detail)


def _check_close(code: int, reason: str) -> None:
    if isinstance(code, bool) or not isinstance(code, int) or not is_valid_wire_close_code(code):
        raise ValueError(f"close code {code!r} cannot be sent: use 1000-1003, 1007-1014 or 3000-4999 "
                         f"(RFC 6455 section 7.4; 1005, 1006 and 1015 only report what happened)")
    check_close_reason(reason)
