"""``faye-websocket serve [PORT]``: a WebSocket echo server with an access log.

Every WebSocket request on any path is echoed (text and binary), with subprotocols irc and xmpp
and permessage-deflate, like the original's examples/server.js; any other request gets 426. One
line per request on standard error: ``CLIENT "REQUEST LINE" STATUS`` (101 for an upgrade, the
refusal's status otherwise), and one line for a connection that speaks the wrong protocol for the
port: a TLS handshake on a plain port, or plain HTTP on a ``--tls`` port (answered with a plain
400 saying to use https:// or wss://). The first byte of each connection is peeked, on the
connection's own thread and bounded by ``REQUEST_WAIT``, to tell the two apart before http.server
reads anything, so no binary ClientHello ever reaches the log.
"""

from __future__ import annotations

import argparse
import io
import socket
import ssl
import sys
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from ..errors import HandshakeError
from ..events import ErrorEvent
from ..extensions.permessage_deflate import PermessageDeflate
from ..server.http_server import WebSocketHTTPServer, serve_until_signalled
from ..server.thread_reuse import DEFAULT_IDLE_THREAD_TIMEOUT
from ..server.websocket import WebSocket
from .arguments import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, PROG
from .failures import describe_listen_failure
from .logs import log_line

PROTOCOLS = ["irc", "xmpp"]  # as in the original's examples/server.js
REQUEST_WAIT = 10.0  # seconds a connection may take to send its first byte, then the TLS handshake
SWITCHING_PROTOCOLS = 101
STATUS_BAD_REQUEST = 400
STATUS_UPGRADE_REQUIRED = 426  # RFC 9110 section 15.5.22: this server speaks WebSocket only
TLS_HANDSHAKE_RECORD = 0x16  # RFC 8446 section 5.1: ContentType handshake(22) opens every ClientHello
PENDING_REQUEST_BYTES = 65536  # read before answering plain HTTP on a TLS port (unread bytes mean RST)
_PLAIN_BODY = b"This port speaks TLS: use https:// or wss://\n"
PLAIN_HTTP_ON_TLS_PORT = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_PLAIN_BODY), _PLAIN_BODY)
)
TLS_ON_PLAIN_PORT = ("refused a TLS handshake on this plain port (the client used https:// or wss://): "
                     "connect with http:// or ws://, or serve with --tls CERT KEY")
PLAIN_ON_TLS_PORT = "answered 400 to plain HTTP on this TLS port: the client should use https:// or wss://"


class ServeServer(WebSocketHTTPServer):
    """The echo server: its options, and one log line (not a traceback) for network errors.

    A handler thread whose connection has ended serves a later one (``idle_thread_timeout``,
    see ``faye_websocket.server.thread_reuse``): a short connection does not pay for starting a
    thread.
    """

    idle_thread_timeout = DEFAULT_IDLE_THREAD_TIMEOUT
    tls_context: ssl.SSLContext | None = None
    origins: list[str] | None = None  # allowed Origin values; None: any
    allow_drafts = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A peer resetting or a TLS failure is routine: one line; anything else: the traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log_line(str(client_address[0]), f"connection error: {error}")
            return
        super().handle_error(request, client_address)


class ServeServer6(ServeServer):
    """The echo server on an IPv6 address."""

    address_family = socket.AF_INET6


class SortingHandler(BaseHTTPRequestHandler):
    """An http.server handler for a ``ServeServer``: sorts TLS from plain connections before
    http.server reads, and writes the access log (``log_upgrade`` adds WebSocket upgrades to it).

    Subclass it and define ``do_GET`` (the demo server, examples/server.py, does).
    """

    server: ServeServer
    refused = False  # set by setup() when the connection spoke the wrong protocol for the port

    def setup(self) -> None:
        """Peek at the first byte (bounded); wrap TLS, refuse a mix-up, then read as http.server."""
        if getattr(self.server, "tls_context", None) is None and self.timeout is None:
            refusal = self._sort_plain()
        else:
            refusal = self._sort_protocol()
            if refusal is None:
                super().setup()
        if refusal is None:
            return
        self.refused = True
        if refusal:
            log_line(self.client_address[0], refusal)
        for stream in (getattr(self, "rfile", None), getattr(self, "wfile", None)):
            if stream is not None:
                stream.close()  # made by _sort_plain; the socket stays open for the server to close
        self.rfile, self.wfile = io.BytesIO(), io.BytesIO()  # finish() closes them; nothing to read

    def _sort_plain(self) -> str | None:
        """``_sort_protocol`` for a plain port: the first byte is peeked through http.server's own
        reader, whose read then holds the request head too (one read instead of a peek and a read)."""
        self.request.settimeout(REQUEST_WAIT)
        super().setup()
        peek = getattr(self.rfile, "peek", None)  # a BufferedReader's (rbufsize is -1: buffered)
        if peek is None:
            return None
        first = _first_byte(lambda: bytes(peek(1)[:1]))
        if isinstance(first, str):
            return first
        return TLS_ON_PLAIN_PORT if first[0] == TLS_HANDSHAKE_RECORD else None

    def _sort_protocol(self) -> str | None:
        """None to go on (self.request then TLS if it must be), else the refusal's log line."""
        sock: socket.socket = self.request
        sock.settimeout(REQUEST_WAIT)
        first = _first_byte(lambda: sock.recv(1, socket.MSG_PEEK))
        if isinstance(first, str):
            return first
        speaks_tls = first[0] == TLS_HANDSHAKE_RECORD
        context = getattr(self.server, "tls_context", None)  # any http.server may use this handler
        if context is None:
            return TLS_ON_PLAIN_PORT if speaks_tls else None
        if not speaks_tls:
            _answer_plain(sock)
            return PLAIN_ON_TLS_PORT
        try:
            self.request = context.wrap_socket(sock, server_side=True)  # the handshake, bounded
        except (ssl.SSLError, OSError) as error:
            return f"TLS handshake failed: {getattr(error, 'reason', None) or error}"
        return None

    def handle(self) -> None:
        """Serve the connection's requests, unless setup() refused it."""
        if not self.refused:
            super().handle()

    def finish(self) -> None:
        """Close the TLS socket we made (the server only knows the plain one)."""
        super().finish()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.close()

    def log_upgrade(self, ws: WebSocket) -> None:
        """Log this request once ``ws`` has answered it: 101 when it opens, else the HTTP status
        it was refused with (400, 403, 426...). Attach before ``run()``."""
        ws.on("open", lambda event: self.log_request(SWITCHING_PROTOCOLS))
        ws.on("error", self._log_refusal)

    def _log_refusal(self, event: ErrorEvent) -> None:
        if isinstance(event.error, HandshakeError):  # the library answered with an HTTP error
            self.log_request(event.error.status or STATUS_BAD_REQUEST)

    def log_message(self, format: str, *args: Any) -> None:
        """One access-log line on standard error, control characters escaped."""
        log_line(self.address_string(), format % args)

    def log_error(self, format: str, *args: Any) -> None:
        """Errors, except send_error's "code N" line: its log_request line already has the status."""
        if not format.startswith("code %d"):
            self.log_message(format, *args)


class EchoHandler(SortingHandler):
    """Upgrades GET requests to a WebSocket that echoes every message; 426 for anything else."""

    def do_GET(self) -> None:
        """Echo every message until the client closes; 426 for anything but an upgrade."""
        if not WebSocket.is_websocket(self):
            self.send_error(STATUS_UPGRADE_REQUIRED, "Upgrade Required", "This server speaks WebSocket only")
            return
        ws = WebSocket.from_handler(self, PROTOCOLS, extensions=[PermessageDeflate()],
                                    origin=getattr(self.server, "origins", None),
                                    allow_drafts=getattr(self.server, "allow_drafts", False))
        self.log_upgrade(ws)
        ws.on("message", lambda event: event.target.send(event.data))  # not ws: no reference cycle
        ws.run()


def _first_byte(peek: Callable[[], bytes]) -> bytes | str:
    """The connection's first byte, peeked (bounded by the socket's REQUEST_WAIT timeout), or the
    refusal's log line: "" when the client connected and left (nothing to log)."""
    try:
        first = peek()
    except TimeoutError:
        return f"no request within {REQUEST_WAIT:g} s"
    except OSError as error:
        return f"connection error: {error}"
    return first if first else ""


def _answer_plain(sock: socket.socket) -> None:
    try:
        sock.recv(PENDING_REQUEST_BYTES)  # what has arrived; closing over unread bytes sends RST
        sock.sendall(PLAIN_HTTP_ON_TLS_PORT)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the client has gone: the log line still says what happened


def run_serve(options: argparse.Namespace) -> int:
    """The ``serve`` command: listen, print the URL, serve until SIGINT/SIGTERM; the exit status."""
    context = None
    if options.tls:
        try:
            context = server_tls_context(*options.tls)
        except (OSError, ValueError) as error:
            print(f"{PROG} serve: error: cannot load --tls {' '.join(options.tls)}: {error}", file=sys.stderr)
            return EXIT_USAGE
    server_class = ServeServer6 if ":" in options.host else ServeServer  # ":": an IPv6 literal
    try:
        server = server_class((options.host, options.port), EchoHandler)
    except OSError as error:
        print(f"{PROG} serve: {describe_listen_failure(options.host, options.port, error)}", file=sys.stderr)
        return EXIT_FAILURE
    server.tls_context = context
    server.origins = options.origin
    server.allow_drafts = options.allow_drafts
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown_host = f"[{host}]" if ":" in host else host
    print(f"Listening on {'wss' if context else 'ws'}://{shown_host}:{port}/", flush=True)
    serve_until_signalled(server)
    return EXIT_OK


def server_tls_context(certificate: str, key: str) -> ssl.SSLContext:
    """A server context with this PEM certificate chain and key; OSError/ssl.SSLError if unusable."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return context
