"""EventSourceClient: a blocking Server-Sent Events reader over http and https.

It behaves like a browser's ``EventSource``: it sends ``Accept: text/event-stream``, reconnects
after a dropped connection once ``retry`` has passed, sends ``Last-Event-ID`` on reconnection, and
stops for good on a response that is not an event stream (204 included). The wire work is in
``driver.eventstream`` (parser, request, response check) and ``driver.body`` (chunked bodies).
Events are read on the caller's thread, by iteration or by ``run()`` with listeners.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

import certifi

from .driver.body import BodyDecoder
from .driver.eventstream import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MAX_LINE_LENGTH,
    EventStreamParser,
    ServerSentEvent,
    check_response,
    request_head,
)
from .driver.http import HeadBuffer, Response, parse_response, to_headers
from .errors import HandshakeError
from .events import ErrorEvent, OpenEvent, ReadyState

logger = logging.getLogger("faye_websocket")

Listener = Callable[[Any], Any]
DEFAULT_RETRY = 3.0  # seconds before reconnecting until the server sends retry; Chromium's default
DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds for TCP, TLS and the response head together
DEFAULT_READ_TIMEOUT = 60.0  # seconds of silence before the stream counts as dropped (faye pings every 10)
_RECV_SIZE = 65536
_DEFAULT_PORTS = {"http": 80, "https": 443}


class EventSourceClient:
    """Reads the event stream at ``url`` (``http://`` or ``https://``).

    Options: ``headers`` (extra request fields), ``last_event_id`` (to resume from), ``tls`` (an
    ``ssl.SSLContext``; default verifies with certifi's CA bundle), ``retry`` (seconds before a
    reconnection until the server sets ``retry:``), ``reconnect`` (False: a dropped connection
    ends the iteration), ``connect_timeout``, ``read_timeout`` (None: wait forever), and the bounds
    ``max_line_length`` and ``max_length`` (characters per line and per event's data).

    Nothing happens until it is iterated or ``run()``; ``close()`` is safe from any thread.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        last_event_id: str = "",
        tls: ssl.SSLContext | None = None,
        retry: float = DEFAULT_RETRY,
        reconnect: bool = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"EventSource URL must be http:// or https:// with a host: {url!r}")
        self.url = url
        self._parts = parts
        self._headers = list(to_headers(headers))
        self._tls = tls
        self.retry = retry
        self._reconnect = reconnect
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._parser = EventStreamParser(
            last_event_id=last_event_id, max_line_length=max_line_length, max_length=max_length
        )
        self._state = ReadyState.CONNECTING
        self._stop = threading.Event()
        self._sock_lock = threading.Lock()  # owner: this object; guards _sock between reader and close()
        self._sock: socket.socket | None = None
        self._decoder = BodyDecoder()
        self._listeners: dict[str, list[Listener]] = {}
        self.onopen: Listener | None = None
        self.onmessage: Listener | None = None
        self.onerror: Listener | None = None
        self.status_code: int | None = None
        self.headers: dict[str, str] = {}

    @property
    def ready_state(self) -> ReadyState:
        """CONNECTING (also while waiting to reconnect), OPEN while reading, CLOSED at the end."""
        return self._state

    @property
    def last_event_id(self) -> str:
        """The last event ID the stream set; sent as ``Last-Event-ID`` on reconnection."""
        return self._parser.last_event_id

    def on(self, type: str, listener: Listener) -> None:
        """Call ``listener(event)`` for events of ``type``: "open", "error", "message" or any name."""
        self._listeners.setdefault(type, []).append(listener)

    def off(self, type: str, listener: Listener) -> None:
        """Remove a listener added with ``on`` (no error if it is not there)."""
        listeners = self._listeners.get(type, [])
        if listener in listeners:
            listeners.remove(listener)

    def close(self) -> None:
        """Stop reading and reconnecting; the iteration (or ``run()``) ends soon after."""
        self._stop.set()
        with self._sock_lock:
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # not connected yet, or already gone

    def __enter__(self) -> EventSourceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self) -> None:
        """Read events and call the listeners until ``close()``; on this thread.

        Raises HandshakeError when the server refuses the stream (after the "error" listeners ran),
        MessageTooLarge if the server breaks a bound, or OSError with ``reconnect=False``.
        """
        for event in self:
            self._dispatch(event.type, event)

    def __iter__(self) -> Iterator[ServerSentEvent]:
        """Yield events as they arrive, reconnecting as a browser does; ends after ``close()``."""
        try:
            while not self._stop.is_set():
                yield from self._one_connection()
                if self._stop.is_set() or not self._reconnect:
                    break
                self._state = ReadyState.CONNECTING
                self._stop.wait(self.retry)
        finally:
            self._state = ReadyState.CLOSED

    def _one_connection(self) -> Iterator[ServerSentEvent]:
        try:
            sock, leftover = self._open()
        except HandshakeError as error:
            self._dispatch("error", ErrorEvent(str(error), error))
            raise
        except OSError as error:
            self._network_error(error)
            return
        try:
            yield from self._read_events(sock, leftover)
        except OSError as error:
            self._network_error(error)
        finally:
            with self._sock_lock:
                self._sock = None
            sock.close()

    def _network_error(self, error: OSError) -> None:
        if self._stop.is_set():
            return
        self._dispatch("error", ErrorEvent(f"Network error: {self.url}: {error}", error))
        if not self._reconnect:
            raise error

    def _open(self) -> tuple[socket.socket, bytes]:
        """Connect, send the request, read and check the head; returns the socket and body bytes."""
        sock = self._connect()
        try:
            sock.sendall(self._request())
            response, leftover = self._read_head(sock)
        except BaseException:
            sock.close()
            raise
        self.status_code = response.status
        self.headers = response.headers.to_dict()
        error = check_response(response)
        if error is not None:
            sock.close()
            raise error
        self._decoder = BodyDecoder.for_response(response.headers)
        self._parser.restart()
        sock.settimeout(self._read_timeout)
        self._state = ReadyState.OPEN
        self._dispatch("open", OpenEvent())
        return sock, leftover

    def _connect(self) -> socket.socket:
        host = self._parts.hostname or ""
        port = self._parts.port or _DEFAULT_PORTS[self._parts.scheme]
        sock = socket.create_connection((host, port), timeout=self._connect_timeout)
        if self._parts.scheme == "https":
            context = self._tls or ssl.create_default_context(cafile=certifi.where())
            try:
                sock = context.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        with self._sock_lock:
            if self._stop.is_set():
                sock.close()
                raise ConnectionAbortedError("EventSourceClient closed")
            self._sock = sock
        return sock

    def _request(self) -> bytes:
        parts = self._parts
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"  # an IPv6 literal (RFC 3986 section 3.2.2)
        if parts.port is not None and parts.port != _DEFAULT_PORTS[parts.scheme]:
            host = f"{host}:{parts.port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return request_head(host, target, last_event_id=self.last_event_id, headers=self._headers)

    def _read_head(self, sock: socket.socket) -> tuple[Response, bytes]:
        buffer = HeadBuffer()
        while True:
            data = sock.recv(_RECV_SIZE)
            if not data:
                raise ConnectionResetError("connection closed before the response head")
            found = buffer.feed(data)
            if found is not None:
                head, rest = found
                return parse_response(head), rest

    def _read_events(self, sock: socket.socket, data: bytes) -> Iterator[ServerSentEvent]:
        while True:
            body = self._decoder.feed(data)
            events = self._parser.feed(body)
            if self._parser.retry is not None:
                self.retry = self._parser.retry / 1000
            for event in events:
                if self._stop.is_set():
                    return
                yield event
            if self._decoder.done or self._stop.is_set():
                return
            data = sock.recv(_RECV_SIZE)
            if not data:
                return

    def _dispatch(self, type: str, event: Any) -> None:
        attribute = {"open": self.onopen, "message": self.onmessage, "error": self.onerror}.get(type)
        listeners = ([attribute] if attribute is not None else []) + list(self._listeners.get(type, []))
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("EventSourceClient %s listener failed", type)

