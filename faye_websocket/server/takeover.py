"""Taking a connection over from the HTTP server that parsed its request: the one helper that the
WebSocket and the EventSource writer share.

It rebuilds the request head from an http.server handler or a WSGI environ (one URL rule for
both, so a WebSocket and an event stream of one application agree on their own ``url``), takes
the bytes the server has already buffered past the head, tunes the socket, and shuts it down.
"""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler
from typing import Any, Mapping, Union
from urllib.parse import quote

from ..driver.http import Headers, Request

RequestSource = Union[Request, BaseHTTPRequestHandler, Mapping[str, Any]]
BUFFER_READ_LIMIT = 1 << 20  # more than a BufferedReader ever holds (8 KiB by default)
HTTP_PREFIX = "HTTP_"  # PEP 3333: request headers arrive as HTTP_<NAME> variables
# RFC 3986 section 3.3 pchar delimiters and "/": kept as they are when re-encoding a path.
PATH_SAFE = "/:@!$&'()*+,;=~"
_REQUEST_ATTRIBUTE = "_faye_websocket_request"  # request_from_handler's cache on the handler


def request_from(source: RequestSource) -> Request:
    """A ``Request`` from a parsed request, a BaseHTTPRequestHandler, or a WSGI environ.

    TypeError for anything else.
    """
    if isinstance(source, Request):
        return source
    if isinstance(source, BaseHTTPRequestHandler):
        return request_from_handler(source)
    if isinstance(source, Mapping):
        return request_from_environ(source)
    raise TypeError(f"expected a request handler, a Request or a WSGI environ, not {type(source).__name__}")


def request_from_handler(handler: BaseHTTPRequestHandler) -> Request:
    """The request head http.server has parsed for ``handler``.

    Kept on the handler for its current request (``is_websocket(handler)`` then
    ``from_handler(handler)`` build it once): a new request on a kept-alive connection comes
    with a new ``headers`` object, and gets its own.
    """
    parsed = handler.headers
    cached = handler.__dict__.get(_REQUEST_ATTRIBUTE)
    if cached is not None and cached[0] is parsed and cached[1].target == handler.path:
        return cached[1]  # type: ignore[no-any-return]
    headers = Headers((str(name), str(value)) for name, value in parsed.items())
    request = Request(handler.command or "", handler.path, headers, handler.request_version)
    handler.__dict__[_REQUEST_ATTRIBUTE] = (parsed, request)
    return request


def remember_request(handler: BaseHTTPRequestHandler, request: Request) -> None:
    """Keep ``request``, built from ``handler``'s current head, for ``request_from_handler``
    (a parse that makes both at once, see request_head.py)."""
    handler.__dict__[_REQUEST_ATTRIBUTE] = (handler.headers, request)


def request_from_environ(environ: Mapping[str, Any]) -> Request:
    """Rebuild the request head from a WSGI environ (header order is lost, values kept).

    The target is the one the client sent when the server passes it on (``RAW_URI`` from
    gunicorn, ``REQUEST_URI`` from werkzeug and others); otherwise PEP 3333's URL
    reconstruction from SCRIPT_NAME, PATH_INFO and QUERY_STRING.
    """
    headers = Headers()
    for key, value in environ.items():
        if key.startswith(HTTP_PREFIX):
            headers.add(key[len(HTTP_PREFIX):].replace("_", "-").title(), str(value))
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if environ.get(key):
            headers.add(name, str(environ[key]))
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or _reconstructed_target(environ)
    protocol = str(environ.get("SERVER_PROTOCOL", "HTTP/1.1"))
    return Request(str(environ.get("REQUEST_METHOD", "GET")), str(target), headers, protocol)


def environ_is_secure(environ: Mapping[str, Any]) -> bool:
    """True when the WSGI server itself terminated TLS for this request."""
    return environ.get("wsgi.url_scheme") == "https"


def _reconstructed_target(environ: Mapping[str, Any]) -> str:
    path = _quote_path(str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))) or "/"
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


def _quote_path(path: str) -> str:
    """The WSGI path percent-encoded again, as the client sent it (PEP 3333).

    PATH_INFO is decoded, with the path's bytes as latin-1 characters.
    """
    try:
        raw = path.encode("latin-1")
    except UnicodeEncodeError:  # a server that did not follow PEP 3333
        raw = path.encode("utf-8", "surrogateescape")
    return quote(raw, safe=PATH_SAFE)


def take_buffered(rfile: Any, sock: socket.socket) -> bytes:
    """The bytes a reader (``handler.rfile``, ``wsgi.input``) has buffered, without blocking.

    A client may send its first frame, or draft-76's 8 key bytes, in the same packet as the
    head; http.server's BufferedReader has then already pulled them off the socket. The socket
    is made non-blocking for the peek so an empty buffer costs one failed read, never a wait.
    """
    known = getattr(rfile, "buffered_bytes", None)  # a head guard may know without reading
    count = known() if callable(known) else None
    if count is not None:
        return bytes(rfile.read(count)) if count else b""
    peek = getattr(rfile, "peek", None)
    if peek is None:
        return b""
    timeout = sock.gettimeout()
    try:
        sock.setblocking(False)
        data = peek(BUFFER_READ_LIMIT)
    except (OSError, ValueError):
        return b""
    finally:
        try:
            sock.settimeout(timeout)
        except OSError:
            pass
    return bytes(rfile.read(len(data))) if data else b""


def set_nodelay(sock: socket.socket) -> None:
    """Turn Nagle's algorithm off: frames and events are written whole and must leave at once
    (faye does the same). A socket that is not TCP (a Unix socket) is left as it is."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def shutdown_tcp(sock: socket.socket) -> None:
    """Shut the TCP connection down in both directions, waking threads blocked on it; never raises.

    Through the plain socket method even for TLS: ``SSLSocket.shutdown`` drops the TLS object
    first, so a writer between two turns of its ``sendall`` loop would send the rest of its data
    in the clear before the TCP shutdown lands.
    """
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or reset by the client
