"""Command line: ``python -m faye_websocket serve [PORT]`` and ``python -m faye_websocket connect URL``.

``serve`` runs a WebSocket echo server (subprotocols irc and xmpp, permessage-deflate) on
127.0.0.1 (``--host`` to change) until interrupted; connections are closed with 1001 on exit.

``connect`` opens a connection and prints every message it receives, one per line (binary as
``<N bytes: hex>``). With MESSAGE arguments it sends them, waits for as many replies and closes;
otherwise it sends each line of standard input and closes at end of input.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from .errors import ConnectionClosed, WebSocketError
from .server.http_server import WebSocketHTTPServer, serve_until_signalled
from .server.websocket import WebSocket

DEFAULT_PORT = 8000
PROTOCOLS = ["irc", "xmpp"]
REPLY_TIMEOUT = 10.0  # seconds ``connect URL MESSAGE...`` waits for each reply
QUIET_BEFORE_CLOSE = 0.5  # seconds without a message before ``connect`` closes at end of input


class EchoHandler(BaseHTTPRequestHandler):
    """Upgrades every GET to a WebSocket that echoes; anything else gets 426."""

    def do_GET(self) -> None:
        """Echo until the client closes."""
        if not WebSocket.is_websocket(self):
            self.send_error(426, "Upgrade Required", "This server speaks WebSocket only")
            return
        from .extensions.permessage_deflate import PermessageDeflate

        ws = WebSocket.from_handler(self, PROTOCOLS, extensions=[PermessageDeflate()])
        ws.on("message", lambda event: ws.send(event.data))
        ws.run()

    def log_message(self, format: str, *args: Any) -> None:
        """One access-log line on stderr."""
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def serve(host: str, port: int) -> None:
    """Run the echo server until SIGINT or SIGTERM."""
    server = WebSocketHTTPServer((host, port), EchoHandler)
    bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
    print(f"Listening on ws://{bound_host}:{bound_port}/", flush=True)
    serve_until_signalled(server)


def show(message: str | bytes) -> str:
    """How ``connect`` prints a message."""
    if isinstance(message, str):
        return message
    return f"<{len(message)} bytes: {message[:64].hex()}{'...' if len(message) > 64 else ''}>"


def connect_and_talk(url: str, protocols: list[str], messages: list[str]) -> int:
    """The ``connect`` command; returns the exit status."""
    from .client import connect

    try:
        client = connect(url, protocols or None)
    except (OSError, WebSocketError) as error:
        print(f"connect failed: {error}", file=sys.stderr)
        return 1
    with client:
        if messages:
            for message in messages:
                client.send(message)
            try:
                for _ in messages:
                    print(show(client.recv(timeout=REPLY_TIMEOUT)), flush=True)
            except ConnectionClosed as closed:
                print(f"connection closed before every reply came: {closed.code} {closed.reason}",
                      file=sys.stderr)
                return 1
            except TimeoutError:
                print(f"no reply within {REPLY_TIMEOUT:g} s", file=sys.stderr)
                return 1
            return 0
        arrived = threading.Event()
        printer = threading.Thread(target=_print_all, args=(client, arrived), name="printer", daemon=True)
        printer.start()
        for line in sys.stdin:
            if not client.send(line.rstrip("\n")):
                break
        # Messages arriving after our close frame are dropped (RFC 6455 section 7.1.2), so let the
        # replies to the last lines come in first: close once the connection has been quiet a while.
        deadline = time.monotonic() + REPLY_TIMEOUT
        while arrived.wait(QUIET_BEFORE_CLOSE) and time.monotonic() < deadline:
            arrived.clear()
        client.close()
        printer.join(REPLY_TIMEOUT)
    return 0


def _print_all(client: Any, arrived: threading.Event) -> None:
    for message in client:
        print(show(message), flush=True)
        arrived.set()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command."""
    parser = argparse.ArgumentParser(prog="python -m faye_websocket", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run a WebSocket echo server")
    serve_parser.add_argument("port", type=int, nargs="?", default=DEFAULT_PORT)
    serve_parser.add_argument("--host", default="127.0.0.1")
    connect_parser = commands.add_parser("connect", help="connect to a WebSocket server")
    connect_parser.add_argument("url")
    connect_parser.add_argument("messages", nargs="*", help="messages to send (default: stdin lines)")
    connect_parser.add_argument("--protocol", action="append", default=[], help="offer a subprotocol")
    options = parser.parse_args(argv)
    if options.command == "serve":
        serve(options.host, options.port)
        return 0
    return connect_and_talk(options.url, options.protocol, options.messages)


if __name__ == "__main__":
    sys.exit(main())
