"""The server-side WebSocket: built from a request and its socket, or from an http.server handler.

``WebSocket(request, sock, body)`` mirrors faye's ``new WebSocket(request, socket, body)``:
``request`` is the parsed head (``driver.http.Request``), ``sock`` the connected socket and
``body`` the bytes already read past the head (a first frame, draft-76's 8 key bytes). With
``request=None`` the WebSocket reads the head from the socket itself (the raw socketserver path).
``WebSocket.from_handler(handler)`` takes over a ``BaseHTTPRequestHandler``'s connection,
including the bytes http.server has already buffered.

The constructor writes the 101 response (or an HTTP error) on the calling thread and returns in
OPEN (CONNECTING for the raw path and while draft-76 waits for its key bytes). Events, the
``open`` event included, are dispatched by ``run()`` or ``recv()``, so listeners attached after
construction see them all.
"""

from __future__ import annotations

import logging
import socket
import ssl
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

from ..api import WebSocketAPI
from ..connection.connection import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_MESSAGE_TIMEOUT,
    DEFAULT_SEND_TIMEOUT,
    Connection,
)
from ..connection.roles import Side
from ..driver.base import DEFAULT_MAX_LENGTH
from ..driver.http import Request
from ..driver.server import ServerDriver, is_websocket_request
from ..extensions.base import Extension
from ..net.transport import wrap_socket
from .takeover import request_from, request_from_handler, set_nodelay, take_buffered

logger = logging.getLogger("faye_websocket")

STATUS_BAD_REQUEST = 400
STATUS_FORBIDDEN = 403
STATUS_INTERNAL_ERROR = 500

_BODY_FIELDS = frozenset({"transfer-encoding", "content-length"})  # lower-case, as Headers.has_any takes them

OriginCheck = Union[Iterable[Union[str, None]], Callable[[Union[str, None]], bool]]
HeaderSource = Union[Mapping[str, str], Iterable[tuple[str, str]], None]


class WebSocket(WebSocketAPI):
    """A server-side WebSocket connection.

    Options (keyword-only; any other name is a TypeError):

    - ``extensions``: extension objects, e.g. ``[PermessageDeflate()]``, negotiated in order.
    - ``headers``: extra response headers for the 101.
    - ``max_length``: largest incoming message in bytes (after decompression); larger: 1009.
    - ``ping``: seconds between automatic pings; ``pong_timeout`` (default: ``ping``): a peer
      that sends nothing for that long after a ping is considered gone (close event 1006).
    - ``close_timeout``: seconds to wait for the peer's close frame (then 1006).
    - ``handshake_timeout``: seconds to wait for the request head (raw path) or draft-76 keys.
    - ``send_timeout``: seconds a write may make no progress before the connection is failed.
    - ``message_timeout``: seconds from a message's first byte to its last (60 s); a message
      not complete by then closes the connection with 1008. None: no limit.
    - ``allow_drafts``: accept hixie-75/76 handshakes (off by default, as websocket-driver 0.8).
    - ``origin``: allowed ``Origin`` values (include None to allow requests without one) or a
      callable ``origin -> bool``; any other origin gets 403 and the socket is closed.
    - ``secure``: force the ``wss:`` scheme in ``url`` (default: TLS socket or forwarding headers).

    Errors: ValueError for bad option values. Handshake failures are not raised: the client
    gets an HTTP error, and ``error`` then ``close`` events are dispatched.
    """

    def __init__(
        self,
        request: Request | None,
        sock: socket.socket,
        body: bytes = b"",
        protocols: str | Sequence[str] | None = None,
        *,
        extensions: Iterable[Extension] = (),
        headers: HeaderSource = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        ping: float | None = None,
        pong_timeout: float | None = None,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
        message_timeout: float | None = DEFAULT_MESSAGE_TIMEOUT,
        allow_drafts: bool = False,
        origin: OriginCheck | None = None,
        secure: bool | None = None,
    ) -> None:
        super().__init__()
        if secure is None:  # the driver also honours X-Forwarded-Proto and friends
            secure = isinstance(sock, ssl.SSLSocket)
        self._origin = None if origin is None else _origin_predicate(origin)
        self._driver = ServerDriver(request, protocols=protocols, extensions=extensions, headers=headers,
                                    max_length=max_length, allow_drafts=allow_drafts, secure=secure)
        set_nodelay(sock)
        connection = Connection(
            self._driver, None, side=Side.SERVER, on_event=self._handle_event, ping=ping,
            pong_timeout=pong_timeout, close_timeout=close_timeout,
            handshake_timeout=handshake_timeout, send_timeout=send_timeout,
            message_timeout=message_timeout, before_start=self._before_start,
            has_message_listener=self._has_message_listener, url=self._driver.url,
        )
        self._init_connection(connection)
        connection.attach(wrap_socket(sock), body)

    @staticmethod
    def is_websocket(source: BaseHTTPRequestHandler | Request | Mapping[str, Any]) -> bool:
        """True if ``source`` (a handler, a parsed Request or a WSGI environ) asks for an upgrade."""
        return is_websocket_request(request_from(source))

    @classmethod
    def from_handler(
        cls, handler: BaseHTTPRequestHandler, protocols: str | Sequence[str] | None = None, **options: Any
    ) -> WebSocket:
        """Take over ``handler``'s connection; call from ``do_GET`` on the handler's thread.

        Bytes http.server has already buffered after the head are fed to the WebSocket, and the
        handler is left so that http.server writes nothing more on the socket once ``do_GET``
        returns. ``do_GET`` must not return while the connection is in use: call ``run()`` (or
        loop on ``recv()``) there. If the handler's server has ``track_websocket(ws)`` (see
        ``faye_websocket.server.http_server``), the WebSocket is registered with it so that
        the server's shutdown closes it with 1001.
        """
        request = request_from_handler(handler)  # request_from's case for a handler, without its tests
        body = take_buffered(handler.rfile, handler.connection)
        handler.close_connection = True
        websocket = cls(request, handler.connection, body, protocols, **options)
        track = getattr(handler.server, "track_websocket", None)
        if callable(track):
            track(websocket)
        return websocket

    @property
    def url(self) -> str:
        """``ws[s]://host/path?query`` from the request ("" until the raw path has read the head)."""
        return self._driver.url

    @property
    def request(self) -> Request | None:
        """The request head (None until the raw path has read it)."""
        return self._driver.request

    def _before_start(self) -> tuple[int, str] | None:
        # Runs once the request head is known, on the reading thread, before the 101 is written.
        request = self._driver.request
        self.connection.url = self._driver.url
        if request is not None and _has_body(request):
            # RFC 9110 section 7.8: the new protocol starts after the whole request message, so
            # the content is not frames; like python websockets, refuse rather than skip it.
            return STATUS_BAD_REQUEST, "Unsupported request body"
        if request is None or self._origin is None:
            return None
        origin = request.headers.get("Origin") or request.headers.get("Sec-WebSocket-Origin")
        try:
            allowed = self._origin(origin)
        except Exception:
            logger.exception("faye_websocket: the origin check raised")
            return STATUS_INTERNAL_ERROR, "Origin check failed"
        return None if allowed else (STATUS_FORBIDDEN, "Origin not allowed")


def _has_body(request: Request) -> bool:
    """True when the upgrade request carries content (a Content-Length other than 0, or chunks)."""
    if not request.headers.has_any(_BODY_FIELDS):  # the common upgrade: neither field
        return False
    if request.headers.get("Transfer-Encoding") is not None:
        return True
    return any(value.strip() not in ("", "0") for value in request.headers.get_all("Content-Length"))


def _origin_predicate(origin: OriginCheck | None) -> Callable[[str | None], bool] | None:
    if origin is None or callable(origin):
        return origin
    if isinstance(origin, str):
        raise TypeError("origin must be a list of allowed origins or a callable, not a str")
    allowed = frozenset(origin)
    return lambda value: value in allowed
