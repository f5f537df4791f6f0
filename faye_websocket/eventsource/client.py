"""EventSourceClient: a blocking Server-Sent Events reader over http and https.

It behaves like a browser's ``EventSource``: it sends ``Accept: text/event-stream``, reconnects
after a dropped connection once ``retry`` has passed, sends ``Last-Event-ID`` on reconnection, and
stops for good on a response that is not an event stream (204 included); it follows up to five
redirects per connection, as fetch does for a browser's EventSource. The wire work is in
``driver.eventstream`` (parser, request, response check) and ``driver.body`` (chunked bodies);
connecting (TCP, proxy CONNECT, TLS, TLS inside an https proxy) is the WebSocket client's
``opening.Opener``. Events are read on the caller's thread, by iteration or by ``run()``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from typing import Any, Callable, Generator, Iterator, Mapping
from urllib.parse import urljoin

from ..driver.http import HeadBuffer, Response, check_header, is_interim, parse_response, to_headers
from ..driver.proxy import basic_credentials
from ..driver.url import WebSocketURL, parse_url
from ..errors import HandshakeError
from ..events import ErrorEvent, OpenEvent, ReadyState, with_target
from ..net.backoff import DEFAULT_JITTER, DEFAULT_MAX_DELAY, Backoff
from ..net.dial import Opener
from ..net.proxies import ProxyOption, resolve_proxy
from ..net.tls import tls_settings
from ..net.transport import RECV_SIZE, Transport
from .body import BodyDecoder
from .parser import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MAX_LINE_LENGTH,
    EventStreamParser,
    ServerSentEvent,
    check_response,
    request_head,
)

logger = logging.getLogger("faye_websocket")

Listener = Callable[[Any], Any]
DEFAULT_RETRY = 3.0  # seconds before reconnecting until the server sends retry; Chromium's default
# Consecutive failed connections before the iteration gives up and raises the last error: about
# five minutes of outage with the default delays (3, 6, 12, 24, then 30 s each).
DEFAULT_MAX_ATTEMPTS = 12
DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds for TCP, proxy, TLS; the same again for the response head
DEFAULT_READ_TIMEOUT = 60.0  # seconds of silence before the stream counts as dropped (faye pings every 10)
MAX_REDIRECTS = 5  # redirects followed per connection (fetch allows 20; a stream needs few)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})  # fetch follows these for EventSource
# Request fields a redirect to another origin must not carry: fetch's HTTP-redirect fetch deletes
# Authorization when the origin changes; urllib3 and requests also drop Cookie and
# Proxy-Authorization. Otherwise any server could collect the user's secrets with a 302.
CREDENTIAL_FIELDS = frozenset({"authorization", "cookie", "proxy-authorization"})


class EventSourceClient:
    """Reads the event stream at ``url`` (``http://`` or ``https://``).

    Options: ``headers`` (extra request fields), ``last_event_id`` (to resume from), ``tls`` (an
    ``ssl.SSLContext`` or the WebSocket client's dict of options; default: verify with certifi's
    CA bundle), ``proxy`` (a proxy URL or ``{"origin", "headers", "tls"}``; None: the environment's
    ``http_proxy``/``https_proxy``; False: none), ``retry`` (seconds before a reconnection until
    the server sends ``retry:``), ``reconnect`` (False: a dropped connection ends the iteration),
    ``max_delay``, ``jitter`` and ``max_attempts`` (the backoff after failed connections: each
    consecutive failure doubles the delay from ``retry``, shortened at random by up to ``jitter``
    of itself, at most ``max_delay``; the server's ``retry:`` is the floor; after ``max_attempts``
    consecutive failures, None for never, the iteration raises the last error),
    ``connect_timeout``, ``read_timeout`` (None: wait forever), and the bounds ``max_line_length``
    and ``max_length`` (characters per line and per event's data).

    Credentials in the URL (``http://user:pass@host/``) go out as Basic ``Authorization``, as the
    WebSocket client sends them; a redirect to another origin drops them, and the ``headers``
    Authorization, Cookie and Proxy-Authorization, as fetch does.

    As a browser's, it dispatches an ``error`` event before every reconnection: the network
    error's, or one saying the stream ended when the server closed it cleanly (after which it
    waits ``retry`` seconds, no backoff: that connection worked). Failures are visible without a
    listener too: the iteration raises once it gives up. Every event's ``target`` is this reader.

    Nothing happens until it is iterated or ``run()``; ``close()`` is safe from any thread.
    Raises ValueError for a URL that is not http(s) or a ``last_event_id`` with CR, LF or NUL
    (it goes into the request head, like every header value), TypeError for a bad ``tls`` or
    ``proxy``.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        last_event_id: str = "",
        tls: ssl.SSLContext | Mapping[str, Any] | None = None,
        proxy: ProxyOption = None,
        retry: float = DEFAULT_RETRY,
        reconnect: bool = True,
        max_delay: float = DEFAULT_MAX_DELAY,
        jitter: float = DEFAULT_JITTER,
        max_attempts: int | None = DEFAULT_MAX_ATTEMPTS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        self.url = url
        self._target = _parse_http_url(url)
        if not isinstance(last_event_id, str):
            raise TypeError(f"last_event_id must be a str, not {type(last_event_id).__name__}")
        check_header("Last-Event-ID", last_event_id)  # CR/LF would split the request head
        if tls is not None:
            tls_settings(tls)  # a bad option is a TypeError now, not at the first https connection
        self._tls_option = tls
        resolve_proxy(proxy, self._target)  # likewise for a bad proxy option
        self._proxy_option = proxy
        self._headers = list(to_headers(headers))
        self.retry = retry
        self._backoff = Backoff(retry, max_delay=max_delay, jitter=jitter, max_attempts=max_attempts)
        self._reconnect = reconnect
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._parser = EventStreamParser(
            last_event_id=last_event_id, max_line_length=max_line_length, max_length=max_length
        )
        self._state = ReadyState.CONNECTING
        self._stop = threading.Event()
        self._link_lock = threading.Lock()  # owner: this object; guards _opener/_transport vs close()
        self._opener: Opener | None = None
        self._transport: Transport | None = None
        self._decoder = BodyDecoder()
        self._listeners: dict[str, list[Listener]] = {}
        self.onopen: Listener | None = None
        self.onmessage: Listener | None = None
        self.onerror: Listener | None = None
        self.status_code: int | None = None
        self.headers: dict[str, str] = {}
        # The same fields one per line as received: Set-Cookie lines cannot be joined (RFC 9110 5.3)
        self.raw_headers: list[tuple[str, str]] = []

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
        with self._link_lock:
            if self._opener is not None:
                self._opener.abort()
            if self._transport is not None:
                _wake(self._transport)

    def __enter__(self) -> EventSourceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self) -> None:
        """Read events and call the listeners until ``close()``; on this thread.

        Raises HandshakeError when the server refuses the stream (after the "error" listeners ran),
        MessageTooLarge if the server breaks a bound, OSError with ``reconnect=False`` or after
        ``max_attempts`` consecutive failed connections.
        """
        for event in self:
            self._dispatch(event.type, event)

    def __iter__(self) -> Iterator[ServerSentEvent]:
        """Yield events as they arrive, reconnecting as a browser does (with backoff after
        failures); ends after ``close()``, raises the last error once it gives up."""
        try:
            while not self._stop.is_set():
                failure = yield from self._one_connection()
                if self._stop.is_set() or not self._reconnect:
                    break
                self._state = ReadyState.CONNECTING
                self._stop.wait(self._next_delay(failure))
        finally:
            self._state = ReadyState.CLOSED

    def _next_delay(self, failure: OSError | None) -> float:
        """Seconds before the next connection; raises ``failure`` once the attempts are spent."""
        if failure is None:
            # WHATWG HTML 9.2.3 "reestablish the connection": CONNECTING, then an error event,
            # also after a clean end (network errors have dispatched theirs), then ``retry``.
            self._dispatch("error", ErrorEvent(f"EventSource stream ended: {self.url}: reconnecting"))
            return self.retry
        delay = self._backoff.failed(minimum=self.retry)
        if delay is None:
            logger.debug("EventSourceClient %s: giving up after %d failed connections: %s",
                         self.url, self._backoff.failures, failure)
            raise failure
        logger.debug("EventSourceClient %s: connection %d failed (%s); next in %.2f s",
                     self.url, self._backoff.failures, failure, delay)
        return delay

    def _one_connection(self) -> Generator[ServerSentEvent, None, OSError | None]:
        """Yield one connection's events; the network error that ended it, None for a clean end."""
        try:
            transport, leftover = self._open()
        except HandshakeError as error:
            self._dispatch("error", ErrorEvent(str(error), error))
            raise
        except OSError as error:
            self._network_error(error)
            return error
        self._backoff.succeeded()
        try:
            yield from self._read_events(transport, leftover)
            return None
        except OSError as error:
            self._network_error(error)
            return error
        finally:
            with self._link_lock:
                self._transport = None
            transport.close()

    def _network_error(self, error: OSError) -> None:
        if self._stop.is_set():
            return
        self._dispatch("error", ErrorEvent(f"Network error: {self.url}: {error}", error))
        if not self._reconnect:
            raise error

    def _open(self) -> tuple[Transport, bytes]:
        """Connect (following redirects), check the response; returns the transport and body bytes."""
        target = self._target
        for _ in range(MAX_REDIRECTS + 1):
            transport, response, leftover = self._exchange(target, _origin(target) == _origin(self._target))
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                break
            self._release(transport)
            target = _redirect_target(target, location, response)
        error = check_response(response)
        if error is not None:
            self._release(transport)
            raise error
        transport.settimeout(self._read_timeout)
        self._decoder = BodyDecoder.for_response(response.headers)
        self._parser.restart()
        self._state = ReadyState.OPEN
        self._dispatch("open", OpenEvent())
        return transport, leftover

    def _exchange(self, target: WebSocketURL, same_origin: bool) -> tuple[Transport, Response, bytes]:
        """Connect to ``target``, send the GET and read the response head."""
        transport, leftover = self._connect(target)
        try:
            transport.settimeout(self._connect_timeout)
            transport.sendall(self._request(target, same_origin))
            response, leftover = self._read_head(transport, leftover)
        except BaseException:
            self._release(transport)
            raise
        self.status_code = response.status
        self.headers = response.headers.to_dict()
        self.raw_headers = list(response.headers)
        return transport, response, leftover

    def _release(self, transport: Transport) -> None:
        with self._link_lock:
            self._transport = None
        transport.close()

    def _connect(self, target: WebSocketURL) -> tuple[Transport, bytes]:
        tls = tls_settings(self._tls_option) if target.secure else None
        proxy = resolve_proxy(self._proxy_option, target)
        opener = Opener(target, proxy=proxy, tls=tls, timeout=self._connect_timeout)
        with self._link_lock:
            if self._stop.is_set():
                raise ConnectionAbortedError("EventSourceClient closed")
            self._opener = opener
        try:
            opened = opener.open()
        finally:
            with self._link_lock:
                self._opener = None
        with self._link_lock:
            self._transport = opened.transport
            if self._stop.is_set():  # close() came between open() returning and this line
                _wake(opened.transport)
        return opened.transport, opened.leftover

    def _request(self, target: WebSocketURL, same_origin: bool) -> bytes:
        headers = self._headers
        if not same_origin:  # a redirect left the URL's origin: keep the user's secrets home
            headers = [(name, value) for name, value in headers if name.lower() not in CREDENTIAL_FIELDS]
        # The URL's own userinfo, or the first URL's on a redirect within its origin.
        owner = target if target.username is not None or not same_origin else self._target
        if owner.username is not None and not any(name.lower() == "authorization" for name, _ in headers):
            headers = [("Authorization", basic_credentials(owner.username, owner.password or "")), *headers]
        return request_head(
            target.host_header, target.resource, last_event_id=self.last_event_id, headers=headers
        )

    def _read_head(self, transport: Transport, data: bytes) -> tuple[Response, bytes]:
        """The final response head and the body bytes after it, within ``connect_timeout``.

        A deadline for the whole head, not for each read, so a server that trickles bytes cannot
        hold the reader; 1xx interim responses (103 Early Hints, 100 Continue) are skipped, as
        RFC 9110 section 15.2 requires of every client.
        """
        deadline = time.monotonic() + self._connect_timeout
        buffer = HeadBuffer()
        while True:
            found = buffer.feed(data)
            if found is not None:
                head, data = found
                response = parse_response(head)
                if not is_interim(response.status):
                    return response, data
                buffer = HeadBuffer()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no response head within {self._connect_timeout} s")
            transport.settimeout(remaining)
            data = transport.recv(RECV_SIZE)
            if not data:
                raise ConnectionResetError("connection closed before the response head")

    def _read_events(self, transport: Transport, data: bytes) -> Iterator[ServerSentEvent]:
        while True:
            events = self._parser.feed(self._decoder.feed(data))
            if self._parser.retry is not None:
                self.retry = self._parser.retry / 1000
                self._backoff.initial = self.retry  # the server's pace: backoff grows from it
            for event in events:
                if self._stop.is_set():
                    return
                yield event
            if self._decoder.done or self._stop.is_set():
                return
            data = transport.recv(RECV_SIZE)
            if not data:
                return

    def _dispatch(self, type: str, event: Any) -> None:
        with_target(event, self)
        attribute = {"open": self.onopen, "message": self.onmessage, "error": self.onerror}.get(type)
        listeners = ([attribute] if attribute is not None else []) + list(self._listeners.get(type, []))
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("EventSourceClient %s listener failed", type)


def _origin(target: WebSocketURL) -> tuple[bool, str, int]:
    """The URL's origin (RFC 6454): scheme, host and port."""
    return target.secure, target.host.lower(), target.port


def _parse_http_url(url: str) -> WebSocketURL:
    """The URL's host, port, resource and security; ValueError unless it is http:// or https://."""
    scheme = url.split(":", 1)[0].lower() if isinstance(url, str) else ""
    if scheme not in ("http", "https"):
        raise ValueError(f"EventSource URL must be http:// or https://: {url!r}")
    try:
        return parse_url(url)
    except ValueError as error:
        raise ValueError(f"{url!r} is not a valid EventSource URL: {error}") from None


def _redirect_target(target: WebSocketURL, location: str, response: Response) -> WebSocketURL:
    """Where a redirect points (relative to ``target``); HandshakeError if it is not http(s)."""
    base = f"{'https' if target.secure else 'http'}://{target.host_header}{target.resource}"
    try:
        return _parse_http_url(urljoin(base, location))
    except ValueError as error:
        raise HandshakeError(str(error), response.status, response.headers.to_dict()) from None


def _wake(transport: Transport) -> None:
    """Shut the underlying socket down so that a recv blocked on another thread returns."""
    inner: Any = transport
    while not hasattr(inner, "sock") and hasattr(inner, "outer"):
        inner = inner.outer  # TLS inside a proxy tunnel: reach the TCP socket
    sock = getattr(inner, "sock", None)
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not connected any more
    else:
        transport.shutdown_write()
