"""WSGI integration: take the connection over from a WSGI server and run a WebSocket on it.

WSGI has no upgrade mechanism, so the adapter reaches for the server's socket: gunicorn's
``environ["gunicorn.socket"]``, werkzeug's ``environ["werkzeug.socket"]``, or, for the stdlib's
wsgiref, the socket under ``environ["wsgi.input"]``. Four things make the takeover safe:

1. Bytes the server has already read past the head (a pipelined first frame) are taken from
   the server's own reader: werkzeug and wsgiref buffer them in ``wsgi.input``, gunicorn in
   ``wsgi.input.reader.unreader.buf``.
2. The 101 is written raw on the socket (wsgiref's ``start_response`` refuses the hop-by-hop
   ``Upgrade`` and ``Connection`` headers anyway).
3. Once the WebSocket has closed, the server must write nothing more: gunicorn is told with
   ``StopIteration`` (it then closes the connection silently); the others find the socket shut
   down, so the response they insist on writing goes nowhere.
4. The server's own socket object outlives the WebSocket, because the server still uses it
   after the application returns (gunicorn writes a response there, then closes it). werkzeug,
   wsgiref and Django's runserver hold a reader on their socket, so its descriptor stays open
   until they close that; gunicorn does not, so the WebSocket gets a duplicate of gunicorn's
   socket (``take_over``). A view that returns an ordinary response after a takeover then
   costs gunicorn a broken pipe, which it logs at debug level, rather than ``Bad file
   descriptor`` and a traceback.

A server that offers no socket (waitress) gets ``501 Not Implemented``. Under gunicorn use the
``gthread`` worker: a ``sync`` worker is killed after ``--timeout`` seconds (30 by default)
while a WebSocket holds it.

::

    def on_connect(ws):
        ws.on("message", lambda event: ws.send(event.data))
        ws.run()

    application = websocket_app(on_connect, protocols=["irc", "xmpp"], fallback=static_app)
"""

from __future__ import annotations

import io
import logging
import os
import socket
import ssl
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from ..driver.http import Request
from ..errors import HandshakeError
from ..events import ReadyState
from ..rfc6455 import CloseCode
from .takeover import environ_is_secure, request_from_environ, take_buffered
from .websocket import WebSocket

logger = logging.getLogger("faye_websocket")
StartResponse = Callable[..., Any]
Owner = TypeVar("Owner")  # what takes the connection over: a WebSocket, an EventSource
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
STATUS_NOT_IMPLEMENTED = 501
STATUS_UPGRADE_REQUIRED = 426  # RFC 6455 section 4.2.2 / RFC 9110 section 15.5.22
SWITCHING_PROTOCOLS = "101 Switching Protocols"  # RFC 9110 section 15.2.2; what the server logs


class UpgradeNotSupported(HandshakeError):
    """The WSGI server gives the application no socket to take over (status 501)."""

    def __init__(self, message: str = "This WSGI server cannot upgrade connections to WebSocket") -> None:
        super().__init__(message, STATUS_NOT_IMPLEMENTED)


def find_socket(environ: Mapping[str, Any]) -> tuple[socket.socket, str]:
    """The server's socket and the name of the server kind; UpgradeNotSupported if there is none."""
    for key in ("gunicorn.socket", "werkzeug.socket"):
        sock = environ.get(key)
        if isinstance(sock, socket.socket):
            return sock, key
    raw = getattr(_input_reader(environ), "raw", None)
    sock = getattr(raw, "_sock", None)  # wsgiref: the handler's rfile is a BufferedReader on SocketIO
    if isinstance(sock, socket.socket):
        return sock, "wsgiref"
    raise UpgradeNotSupported()


def _input_reader(environ: Mapping[str, Any]) -> Any:
    """``wsgi.input``, or the server's reader under the LimitedStream that Django's runserver
    (a wsgiref server) wraps around it, which keeps only the reader's bound ``read``."""
    stream = environ.get("wsgi.input")
    return getattr(getattr(stream, "_read", None), "__self__", stream)


def buffered_input(environ: Mapping[str, Any], sock: socket.socket, kind: str) -> bytes:
    """Bytes the server has read from the socket past the request head but not handed out."""
    stream = environ.get("wsgi.input")
    if kind == "gunicorn.socket":
        unreader = getattr(getattr(stream, "reader", None), "unreader", None)
        buffer = getattr(unreader, "buf", None)
        if not isinstance(buffer, io.BytesIO):
            return b""
        data = buffer.getvalue()
        unreader.buf = io.BytesIO()  # type: ignore[union-attr]
        return data
    return take_buffered(_input_reader(environ), sock)


def take_over(environ: Mapping[str, Any], build: Callable[[socket.socket, bytes], Owner]) -> Owner:
    """Hand the connection to ``build(sock, body)`` (a WebSocket, an EventSource) and return it.

    ``body`` is what the server has already read past the request head. Under gunicorn ``sock``
    is a duplicate of gunicorn's socket (a TLS socket cannot be duplicated and is shared), so
    that closing it leaves gunicorn's own object for gunicorn to close; the duplicate is closed
    again if ``build`` raises. Raises UpgradeNotSupported when the server offers no socket.
    """
    sock, kind = find_socket(environ)
    body = buffered_input(environ, sock, kind)
    if kind != "gunicorn.socket" or isinstance(sock, ssl.SSLSocket):
        return build(sock, body)
    duplicate = socket.socket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
    try:
        return build(duplicate, body)
    except BaseException:
        duplicate.close()
        raise


def from_environ(
    environ: Mapping[str, Any], protocols: str | Sequence[str] | None = None, **options: Any
) -> WebSocket:
    """Take the connection over and return the server-side WebSocket (101 already written).

    A WSGI application calls ``finish(environ, start_response, SWITCHING_PROTOCOLS)`` once the
    WebSocket is closed and returns its result; a framework's view may return any response
    instead (the server writes it to a connection already shut down, which it takes quietly).
    Raises UpgradeNotSupported when the server offers no socket.
    """
    request: Request = request_from_environ(environ)
    if environ_is_secure(environ):
        options.setdefault("secure", True)
    return take_over(environ, lambda sock, body: WebSocket(request, sock, body, protocols, **options))


def finish(environ: Mapping[str, Any], start_response: StartResponse, status: str = "200 OK") -> list[bytes]:
    """End the WSGI call after a takeover so the server writes nothing on the connection.

    Raises StopIteration under gunicorn (its workers then close the connection silently);
    elsewhere the socket is shut down and an empty response with ``status`` (the status the
    server logs: "101 Switching Protocols" after a WebSocket) is returned.
    """
    release(environ)
    start_response(status, [("Content-Length", "0")])
    return []


def release(environ: Mapping[str, Any]) -> None:
    """Leave a taken-over connection so that the server writes nothing more on it.

    For a framework's response object, whose body the server asks for once the application has
    returned. Raises StopIteration under gunicorn, which then closes the connection without
    writing (the exception must reach gunicorn: raise it from the application call or from the
    body's ``__iter__``). Elsewhere the socket is shut down, so whatever the server writes goes
    nowhere; werkzeug, wsgiref and Django's runserver take the broken pipe for a client that
    has left and log nothing.
    """
    sock, kind = find_socket(environ)
    if kind == "gunicorn.socket":
        raise StopIteration("the connection was taken over")
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already shut down by the WebSocket


def run_session(websocket: WebSocket, on_connect: Callable[[WebSocket], object]) -> None:
    """Run ``on_connect(websocket)``, then the reader loop until the connection is CLOSED.

    On the request's thread. An exception from ``on_connect`` is logged and fails the
    connection with 1011 (the 101 is out: an HTTP 500 is no longer possible). A worker being
    stopped on this thread (gunicorn's sync worker raises SystemExit here once ``--timeout``
    has passed) closes it with 1001 before the exception goes on.
    """
    try:
        try:
            on_connect(websocket)
        except Exception:
            logger.exception("faye_websocket: the WebSocket handler raised")
            websocket.connection.close(CloseCode.INTERNAL_ERROR, "")
        if websocket.ready_state is not ReadyState.CLOSED:
            websocket.run()
    except BaseException:
        # RFC 6455 section 7.4.1: 1001, the server is going away. Without waiting for the answer:
        # the process is on its way out.
        websocket.connection.close(CloseCode.GOING_AWAY, "", wait=False)
        raise


def websocket_app(
    on_connect: Callable[[WebSocket], None],
    protocols: str | Sequence[str] | None = None,
    *,
    fallback: WSGIApp | None = None,
    **options: Any,
) -> WSGIApp:
    """A WSGI application that runs ``on_connect(ws)`` on the request's thread for each upgrade.

    ``on_connect`` attaches listeners and usually ends with ``ws.run()``; if it returns with the
    connection still open, the adapter runs the reader loop until it closes. Requests that are
    not WebSocket upgrades go to ``fallback`` (default: 426 Upgrade Required). ``options`` are
    WebSocket options (``extensions``, ``ping``, ``origin``...).
    """

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not WebSocket.is_websocket(environ):
            if fallback is not None:
                return fallback(environ, start_response)
            return _plain(start_response, STATUS_UPGRADE_REQUIRED, "Upgrade Required",
                          "This resource speaks WebSocket only")
        try:
            websocket = from_environ(environ, protocols, **options)
        except UpgradeNotSupported as error:
            return _plain(start_response, STATUS_NOT_IMPLEMENTED, "Not Implemented", str(error))
        run_session(websocket, on_connect)
        return finish(environ, start_response, SWITCHING_PROTOCOLS)

    return application


def _plain(start_response: StartResponse, status: int, phrase: str, message: str) -> list[bytes]:
    body = message.encode("utf-8")
    start_response(f"{status} {phrase}", [("Content-Type", "text/plain; charset=utf-8"),
                                          ("Content-Length", str(len(body)))])
    return [body]
