"""The WebSocket client: ``Client`` (returns at once, one thread does the rest) and ``connect()``.

A client's life: URL -> TCP -> optional proxy CONNECT (TLS to the proxy for https proxies) ->
optional TLS to the origin (TLS inside TLS through an https proxy) -> the opening handshake ->
frames. The opening phase is ``opening.Opener``; everything after it is the same ``Connection``
and ``WebSocketAPI`` the server side uses, so both sides have one API.

``Client(url)`` is faye's ``new WebSocket.Client(url)``: it returns in CONNECTING and its own
thread connects, tunnels, handshakes and reads, dispatching ``open``, ``message``, ``error`` and
``close`` events (a failed connection gives ``error`` then ``close``). ``connect(url)`` blocks
until OPEN and raises instead; it starts no thread: ``recv()`` reads the socket on the caller's
thread, and listeners run on whichever thread reads (``recv()``, ``close()``, or ``run()``).
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any, ClassVar, Iterable, Mapping, Sequence

from ..api import EventTarget, Listener, WebSocketAPI
from ..connection.connection import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_SEND_TIMEOUT,
    Connection,
)
from ..connection.ending import CLIENT_EOF_WAIT
from ..connection.keepalive import Keepalive
from ..connection.roles import Side
from ..driver.base import DEFAULT_MAX_LENGTH
from ..driver.client import DEFAULT_USER_AGENT, ClientDriver
from ..driver.url import parse_url
from ..errors import ConnectionClosed, HandshakeError, InvalidState
from ..events import CloseEvent, ErrorEvent, Event, MessageEvent, OpenEvent
from ..extensions.base import Extension
from ..net.deadline import check_duration
from ..net.dial import Opened, Opener
from ..net.flag import Flag
from ..net.proxies import ProxyOption, resolve_proxy
from ..net.tls import TLSSettings, tls_settings
from ..net.transport import Transport, for_connection
from ..rfc6455 import CloseCode

MIN_HANDSHAKE_READ_TIMEOUT = 0.001  # seconds; a socket timeout of 0 would mean non-blocking
DEFAULT_CONNECT_TIMEOUT = 10.0  # TCP + proxy + TLS + handshake; like websockets' open_timeout
TLSOption = ssl.SSLContext | Mapping[str, Any] | None
HeaderOption = Mapping[str, str] | Iterable[tuple[str, str]] | None


class Client(WebSocketAPI):
    """A WebSocket client connection; returns at once in CONNECTING (``ready_state`` 0).

    Options (keyword-only; any other name is a TypeError):

    - ``headers``: extra request headers (one named like a standard field, such as ``Host`` for a
      virtual host reached by address, takes its place); ``origin``: an ``Origin`` header (none by default);
      ``user_agent``: the ``User-Agent`` (None: no header).
    - ``extensions``: extension objects, e.g. ``[PermessageDeflate()]``, offered in order.
    - ``max_length``: largest incoming message in bytes; larger ones close with 1009.
    - ``ping``: seconds between automatic pings; ``pong_timeout`` (default: ``ping``): a server
      silent that long after a ping is gone (close event 1006).
    - ``proxy``: ``"http://user:pass@host:port"``, ``"https://..."`` (TLS to the proxy),
      ``"socks5://..."`` / ``"socks5h://..."`` (SOCKS5, the proxy resolving the name with
      socks5h; username/password from the URL), ``"socks4://..."`` / ``"socks4a://..."``, or
      ``{"origin": ..., "headers": {...}, "tls": ...}``; None (default) reads ``http_proxy``,
      ``https_proxy``, ``all_proxy`` and ``no_proxy``; False: never a proxy. Any other scheme is
      a ValueError, from the environment too (never a silent direct connection).
    - ``tls``: for wss, an ``ssl.SSLContext`` or ``{"cafile", "capath", "certfile", "keyfile",
      "password", "verify", "server_hostname", "fingerprint", "trust"}`` (``fingerprint``: the
      pinned SHA-256 of the server's certificate). Certificates are verified against certifi's
      bundle plus ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, or with ``"trust": "system"``
      the operating system's store; a certificate error names the source.
    - ``keepalive`` (``connect()`` only, default True): while nobody reads, a background thread
      answers pings, sends ``ping=`` pings, runs ``ping(callback=)`` callbacks and keeps arriving
      messages for the next ``recv()``, so a caller busy elsewhere is not dropped.
    - ``connect_timeout``: one budget in seconds for TCP, proxy, TLS and the handshake.
    - ``close_timeout``: seconds to wait for the server's close frame; ``send_timeout``: seconds a
      write may make no progress.
    - ``sock``: an already connected socket to the first hop (the proxy if ``proxy`` is given).
    - ``onopen``, ``onmessage``, ``onerror``, ``onclose``: handlers set before the client's thread
      starts. Listeners attached after the constructor returns race with that thread and may
      miss early events (an unreachable server fails within microseconds); pass them here, or
      subclass Client and define ``onopen``/``onmessage``/... as methods.

    Threading: events are dispatched on the client's own thread (a daemon thread; ``run()`` or
    ``wait_closed()`` wait for it). ``send``, ``ping`` and ``close`` are safe from any thread.
    ``recv()`` works too, but only queues messages from its first call on: for a client that
    reads with ``recv()``, use ``connect()``, which reads on the caller's thread and loses none.

    Errors before any I/O: ValueError for a bad URL or option value, TypeError for a wrong type.
    Later failures are ``error`` then ``close`` events (``error.error`` holds the exception:
    HandshakeError, ProxyError, OSError, TimeoutError), or are raised by ``connect()``.
    """

    _start_thread: ClassVar[bool] = True  # False for connect(): the caller's thread reads

    def __init__(
        self,
        url: str,
        protocols: str | Sequence[str] | None = None,
        *,
        headers: HeaderOption = None,
        extensions: Iterable[Extension] = (),
        max_length: int = DEFAULT_MAX_LENGTH,
        ping: float | None = None,
        pong_timeout: float | None = None,
        proxy: ProxyOption = None,
        tls: TLSOption = None,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
        origin: str | None = None,
        user_agent: str | None = DEFAULT_USER_AGENT,
        sock: socket.socket | None = None,
        keepalive: bool = True,
        onopen: Listener | None = None,
        onmessage: Listener | None = None,
        onerror: Listener | None = None,
        onclose: Listener | None = None,
    ) -> None:
        # The signature is long because faye's options are all keyword arguments; the body only
        # checks them (before any I/O), wires driver, opener and connection, and starts the thread.
        super().__init__()
        check_duration("connect_timeout", connect_timeout)
        target = parse_url(url)
        tls_config = tls_settings(tls) if target.secure else _checked_tls(tls)
        proxy_config = resolve_proxy(proxy, target, direct=sock is not None)
        self._driver = ClientDriver(
            url, protocols, headers=headers, extensions=extensions, max_length=max_length,
            origin=origin, user_agent=user_agent, target=target,
        )  # fmt: skip
        self._opener = Opener(target, proxy=proxy_config, tls=tls_config, timeout=connect_timeout, sock=sock)
        connection = Connection(
            self._driver, None, side=Side.CLIENT, on_event=self._handle_event, ping=ping,
            pong_timeout=pong_timeout, close_timeout=close_timeout, handshake_timeout=None,
            send_timeout=send_timeout, reader_thread=self._start_thread, url=url,
            has_message_listener=self._has_message_listener,
        )  # fmt: skip
        self._init_connection(connection)
        # A message nobody listens for skips dispatch, unless a subclass dispatches events itself;
        # the fast lane (as WebSocketAPI sets it for its own) unless it handles them itself too.
        self._plain_dispatch = type(self).dispatch_event is EventTarget.dispatch_event
        if self._plain_dispatch and type(self)._handle_event is Client._handle_event:
            connection.on_message = self._handle_message
        self._opener.log_id = self.log_id
        self._keepalive_wanted = keepalive and not self._start_thread
        self._keepalive: Keepalive | None = None
        self._close_wait = close_timeout + CLIENT_EOF_WAIT  # the longest a close can take
        self._opening_error: BaseException | None = None
        self._opened = False  # the open event has been dispatched
        self._close_requested = False  # close() was called (a close before open is then ours)
        self._send_timeout = send_timeout
        self._handshake_transport: Transport | None = None  # its timeout is the connect budget
        self._handshake_lock = threading.Lock()
        self._closed = Flag()  # set once the close event has been dispatched
        self._readers: set[int] = set()  # threads in recv() / run() of a connect()ed client
        # connect(): messages that arrived with the 101, before recv() could ask for them
        self._early: deque[str | bytes] = deque()
        self._keep_early = False
        # Set only when given: a subclass may define them as methods.
        if onopen is not None:
            self.onopen = onopen
        if onmessage is not None:
            self.onmessage = onmessage
        if onerror is not None:
            self.onerror = onerror
        if onclose is not None:
            self.onclose = onclose
        self._thread: threading.Thread | None = None
        if self._start_thread:
            self._thread = threading.Thread(
                target=self._run_thread, name=f"faye_websocket-client {url}", daemon=True
            )
            self._thread.start()

    # -- public API beyond WebSocketAPI -------------------------------------------------------

    @property
    def status_code(self) -> int | None:
        """The HTTP status of the handshake response (101 when open), None until it arrives."""
        return self._driver.status_code

    @property
    def headers(self) -> dict[str, str]:
        """The handshake response's headers: lower-case names, repeated fields joined with ", ".

        Joined Set-Cookie fields cannot be split again (an Expires date holds a comma): read
        those from ``raw_headers``.
        """
        return self._driver.headers.to_dict()

    @property
    def raw_headers(self) -> list[tuple[str, str]]:
        """The handshake response's header fields as received: names as sent, in order, one pair
        per field line. RFC 9110 section 5.3: Set-Cookie lines cannot be combined into one value.
        """
        return list(self._driver.headers)

    @property
    def error(self) -> BaseException | None:
        """Why the connection could not be opened (handshake, proxy, network, timeout), or None."""
        return self._opening_error or self._driver.handshake_error

    def recv(self, timeout: float | None = None) -> str | bytes:
        """As WebSocketAPI.recv; after connect() it first returns messages that came with the 101."""
        if self._early:
            return self._early.popleft()
        connection = self.connection
        ready = connection.ready_message()  # read already: no need to become the reader
        if ready is not None:
            return ready
        # What _reading() does, inlined: this runs for every recv() that reads (three calls less).
        readers, ident = self._readers, threading.get_ident()
        if ident in readers:  # a nested read (a listener's recv() is refused by the connection)
            return connection.recv(timeout)
        readers.add(ident)
        try:
            return connection.recv(timeout)
        finally:
            readers.discard(ident)

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """As WebSocketAPI.close; while still connecting it also stops the opening at once.

        A ``connect()``ed client's keepalive stops first, so that this call reads until CLOSED.
        """
        super().close(code, reason)
        self._opener.abort()

    def _before_close(self) -> None:
        self._close_requested = True
        if self._keepalive is not None:
            self._keepalive.stop()

    def _start_keepalive(self) -> None:
        """connect(): the background reader for the time nobody else reads (connection/keepalive.py)."""
        if self._keepalive_wanted and self.connection.close_event is None:
            self._keepalive = Keepalive(self.connection, f"faye_websocket-keepalive {self.log_id}")
            self._keepalive.start()

    def _handshake_heads(self) -> list[str]:
        """The request head as written and the response head as received, for the debug log."""
        response = [f"HTTP/1.1 {self._driver.status_code}"]
        response += [f"{name}: {value}" for name, value in self._driver.headers]
        return [self._driver.request_sent.decode("latin-1"), "\r\n".join(response)]

    def run(self) -> None:
        """Block until the connection is CLOSED and its close event dispatched.

        For a ``Client()`` this waits for its thread; for a ``connect()``ed client it is the reader
        loop on the calling thread (listeners run on it).
        """
        if self._thread is None:
            with self._reading():
                super().run()
            return
        if self._thread is not threading.current_thread():
            self._thread.join()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the client's thread to finish; True once CLOSED.

        A ``connect()``ed client has no thread: this waits for the close event while another
        thread reads (``recv()``, iteration, ``run()``); with nobody reading it cannot come, so
        this returns at once (``close()`` itself reads until CLOSED when nobody else does).
        """
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            return not self._thread.is_alive()
        if self._thread is None and self.connection.close_event is None:
            # A listener on the reading thread must not wait for its own thread.
            others_read = bool(self._readers - {threading.get_ident()})
            if others_read:
                self._closed.wait(timeout)
        return self.connection.close_event is not None

    def _reading(self) -> _Reading:
        """Marks the calling thread as reading this connect()ed client (for wait_closed)."""
        return _Reading(self._readers)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close (1000, or 1011 if the block raised) and wait until CLOSED, at most the close timeout."""
        super().__exit__(exc_type, exc, tb)
        self.wait_closed(self._close_wait)

    def _handle_event(self, event: Event) -> None:
        if type(event) is MessageEvent:  # the common event, first; nothing to do without a taker
            if self._keep_early:
                self._early.append(event.data)
            if (self._trace or self.onmessage is not None or self._listeners.get("message")
                    or not self._plain_dispatch):
                super()._handle_event(event)
            return
        if isinstance(event, OpenEvent):
            with self._handshake_lock:
                self._opened = True
                if self._handshake_transport is not None:
                    _set_timeout(self._handshake_transport, self._send_timeout)  # see _attach
                    self._handshake_transport = None
        elif isinstance(event, ErrorEvent) and not self._opened:
            if self._opening_error is None:
                self._opening_error = event.error  # a network error during the handshake
            elif event.error is None:
                # _give_up's abort() carries only the message; the event carries the exception too.
                event = dataclasses.replace(event, error=self._opening_error)
        elif isinstance(event, MessageEvent) and self._keep_early:  # a subclass of MessageEvent
            self._early.append(event.data)
        elif isinstance(event, CloseEvent) and self._server_hung_up_while_opening():
            # An EOF before the handshake response was complete (not a network error): a failed
            # opening, which connect() reports as HandshakeError.
            self._opening_error = HandshakeError(
                f"{self.url}: the server closed the connection before its handshake response"
            )
        try:
            super()._handle_event(event)
        finally:
            if isinstance(event, CloseEvent):
                self._closed.set()
                if self._keepalive is not None:
                    self._keepalive.stop()  # nothing left to keep alive: the hub lets go of it
                # The last event: the connection lets go of this client's bound methods, so that
                # the two are freed by reference counting once the caller drops the client, not
                # by a garbage collection (run() does the same; a connect()ed client's close()
                # or recv() reads until CLOSED without it). 34k instructions of a connect + close.
                self.connection._drop_listener()

    def _handle_message(self, data: str | bytes) -> bool:
        """The connection's fast lane for a message: what ``_handle_event`` does for one."""
        if self._keep_early:
            self._early.append(data)
        if self._trace or self.onmessage is not None or self._listeners.get("message"):
            return super()._handle_message(data)
        return False  # nothing listens: recv() has it (or the reader keeps it for recv())

    def _server_hung_up_while_opening(self) -> bool:
        return not (
            self._opened
            or self._close_requested
            or self._opening_error is not None
            or self._driver.handshake_error is not None
        )

    # -- the client's thread ------------------------------------------------------------------

    def _run_thread(self) -> None:
        """Open, handshake within the connect budget, then read until CLOSED (client thread).

        Events made on other threads (a close() while connecting) wait for this thread, so it
        always ends in the reader loop, which dispatches them.
        """
        try:
            if self._open_and_attach():
                self._handshake()
        finally:
            try:
                self.connection.run()
            except InvalidState:
                pass  # a close() on another thread is reading until CLOSED

    def _handshake(self) -> None:
        deadline = self._opener.deadline
        try:
            self.connection.wait_open(deadline.remaining("opening handshake"))
        except TimeoutError as exc:
            self._give_up(deadline.expired("opening handshake") if deadline.at is not None else exc)

    def _open_and_attach(self) -> bool:
        """The opening phase; False (after error + close events) when it failed."""
        try:
            opened = self._opener.open()
        except Exception as exc:  # any failure must end in error + close events, not a dead thread
            self._give_up(exc)
            return False
        return self._attach(opened)

    def _attach(self, opened: Opened) -> bool:
        """Hand the transport to the connection; its reads wait no longer than the connect budget.

        A TLS read blocks until a whole record has come, for the transport's timeout (the send
        timeout once attached): a server that sends half a record of its 101 must not hold the
        handshake past connect_timeout. The send timeout comes back with the open event.
        """
        transport = for_connection(opened.transport)
        if not self.connection.attach(transport, opened.leftover):
            return False
        at = self._opener.deadline.at
        # Never 0 (non-blocking) nor negative: an expired budget is wait_open's to report.
        left = None if at is None else max(at - time.monotonic(), MIN_HANDSHAKE_READ_TIMEOUT)
        if left is not None and (self._send_timeout is None or left < self._send_timeout):
            with self._handshake_lock:
                if not self._opened:
                    self._handshake_transport = transport
                    _set_timeout(transport, left)
        return True

    def _give_up(self, exc: BaseException, *, dispatch: bool = False) -> None:
        """Fail the opening with ``exc``: error then close events (1006).

        ``dispatch``: connect() has no thread that would dispatch them, so its caller's thread
        does, before it raises (every path dispatches exactly one close event).
        """
        if self._opening_error is None and self.connection.close_event is None:
            self._opening_error = exc
        self.connection.abort(_failure_message(self.url, exc))
        if dispatch:
            try:
                self.connection.run()  # nothing left to read: dispatches what abort() queued
            except InvalidState:
                pass  # a close() on another thread is reading until CLOSED and dispatches them

    # -- connect() ----------------------------------------------------------------------------

    def _open_here(self) -> None:
        """connect(): the opening phase and handshake on the calling thread; raises on failure.

        Succeeds once the handshake has, even if the server failed or closed the connection
        right behind its 101: the messages that came with it are still returned by recv().
        """
        try:
            opened = self._opener.open()
        except BaseException as exc:
            self._give_up(exc, dispatch=True)
            raise
        if not self._attach(opened):
            raise self._closed_error()
        deadline = self._opener.deadline
        self._keep_early = True
        try:
            self.connection.wait_open(deadline.remaining("opening handshake"))
        except TimeoutError as exc:
            error = deadline.expired("opening handshake") if deadline.at is not None else exc
            self._give_up(error, dispatch=True)
            raise error from None
        finally:
            self._keep_early = False
        if not self._opened:
            raise self._closed_error()

    def _closed_error(self) -> BaseException:
        if self._driver.handshake_error is not None:
            return self._driver.handshake_error
        if self._opening_error is not None:
            return self._opening_error
        event = self.connection.close_event
        code = event.code if event is not None and event.code is not None else 1006
        return ConnectionClosed(code, event.reason if event is not None else "")


def connect(url: str, protocols: str | Sequence[str] | None = None, **options: Any) -> Client:
    """Open a WebSocket connection on the calling thread; returns the Client once OPEN.

    Takes Client's options. Raises ValueError/TypeError for bad arguments, HandshakeError
    (``status``, ``headers``) when the server refuses (``status`` None when it hung up before
    answering), ProxyError when the proxy does, OSError (ssl.SSLError included) for network and
    certificate failures (naming the proxy or origin concerned), TimeoutError after
    ``connect_timeout``; the socket is closed in every case, and handlers given as options have
    seen error then close. No thread is started: ``recv()`` and iteration read on the caller's
    thread. Use it as a context manager to close at the end.
    """
    client = _BlockingClient(url, protocols, **options)
    client._open_here()
    client._start_keepalive()
    return client


class _BlockingClient(Client):
    """A Client without a thread of its own (made by ``connect()``)."""

    _start_thread = False


class _Reading:
    """The context of ``Client._reading``: the thread is in ``readers`` (a set of thread idents)
    while inside, unless it already was (a nested call). Set operations on idents are atomic under
    the GIL, so no lock is needed; this runs for every ``recv()`` that reads."""

    __slots__ = ("_readers", "_ident", "_nested")

    def __init__(self, readers: set[int]) -> None:
        self._readers = readers
        self._ident = threading.get_ident()
        self._nested = self._ident in readers

    def __enter__(self) -> None:
        self._readers.add(self._ident)

    def __exit__(self, *exc_info: object) -> None:
        if not self._nested:
            self._readers.discard(self._ident)


def _failure_message(url: str, exc: BaseException) -> str:
    # faye's wording for network errors; handshake and proxy errors carry their own text.
    if isinstance(exc, HandshakeError):
        return str(exc)
    return f"Network error: {url}: {exc or type(exc).__name__}"


def _set_timeout(transport: Transport, timeout: float | None) -> None:
    # The connection may already have failed and closed the transport (a TLS alert in reply to
    # the request): the timeout no longer matters then, and the failure is reported as such.
    try:
        transport.settimeout(timeout)
    except OSError:
        pass


def _checked_tls(tls: TLSOption) -> TLSSettings | None:
    """For a ws URL: no TLS, but a wrong ``tls`` type is still an error before any I/O."""
    if tls is not None:
        tls_settings(tls)
    return None
