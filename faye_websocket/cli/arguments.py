"""The command line's grammar: sub-commands, options, value checks and the one-line usage error.

Value checks run while parsing (before any socket exists), so a port out of range or a header
without a colon ends the command with ``EXIT_USAGE`` and one line on standard error.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import NoReturn
from urllib.parse import urlsplit

from ..version import __version__

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # argparse's own status for a bad command line

PROG = "faye-websocket"
DEFAULT_PORT = 8000  # the demo's port too (scripts/demo)
DEFAULT_HOST = "127.0.0.1"  # loopback unless asked: a test server should not face the network
MAX_PORT = 65535  # TCP port numbers are 16 bits (RFC 793 section 3.1)
# Schemes the client accepts: ws/wss, and http/https as their aliases (driver.url.SCHEME_ALIASES)
WEBSOCKET_SCHEMES = ("ws", "wss", "http", "https")

CONNECT_HELP = """\
Opens a WebSocket and prints every message received, one per line (binary as <N bytes: hex>).
MESSAGE arguments and --execute messages are sent at once; the command then waits for one reply
each (or --wait seconds) and closes. Without them each line of standard input is sent, and the
connection closes at end of input. When the server closes, its close code and reason are printed
on standard error. Exit status: 0 closed normally (1000, 1001, 1005), 1 connection or handshake
failure or any other close, 2 usage error."""

SERVE_HELP = """\
Runs a WebSocket echo server (subprotocols irc and xmpp, permessage-deflate) until SIGINT or
SIGTERM, which close live connections with 1001. One access-log line per request on standard
error. Exit status: 0 stopped by a signal, 1 cannot listen, 2 usage error."""


class UsageError(Exception):
    """A command line that cannot work; ``report()`` prints it as one line on standard error."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.message = message

    def report(self) -> None:
        """Print ``PROG: error: MESSAGE (see --help)`` on standard error."""
        print(f"{self.prog}: error: {self.message} (see --help)", file=sys.stderr)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise UsageError (one line) instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        """Raise UsageError: argparse calls this for unknown options and failed value checks."""
        raise UsageError(self.prog, message)


def port_number(text: str) -> int:
    """A TCP port, 0-65535 (0: any free port)."""
    try:
        port = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, not {text!r}") from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"port must be 0-{MAX_PORT}, not {port}")
    return port


def seconds(text: str) -> float:
    """A duration in seconds: a finite number, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, not {text!r}")
    return value


def header_field(text: str) -> tuple[str, str]:
    """``"Name: value"`` as a (name, value) pair; the library checks the characters."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"a header is 'Name: value', not {text!r}")
    return name.strip(), value.strip()


def readable_file(text: str) -> str:
    """A path to an existing, readable file."""
    if not os.path.isfile(text) or not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read the file {text!r}")
    return text


def websocket_url(text: str) -> str:
    """A URL with a WebSocket scheme and a host; the client checks the rest (port, characters)."""
    try:
        parts = urlsplit(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"bad URL {text!r}: {error}") from None
    scheme = parts.scheme.lower()
    if not scheme or not parts.netloc:
        raise argparse.ArgumentTypeError(f"bad URL {text!r}: expected ws://HOST[:PORT]/PATH or wss://...")
    if scheme not in WEBSOCKET_SCHEMES:
        raise argparse.ArgumentTypeError(f"unsupported scheme {scheme!r} in {text!r}: use ws:// or wss://")
    return text


def build_parser() -> OneLineParser:
    """The parser for both commands; ``options.command`` names the one chosen."""
    parser = OneLineParser(prog=PROG, description="WebSocket client and echo server (faye_websocket).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{connect,serve}",
                                     parser_class=OneLineParser)
    _add_connect(commands.add_parser("connect", help="connect to a WebSocket server",
                                     description=CONNECT_HELP))
    _add_serve(commands.add_parser("serve", help="run a WebSocket echo server", description=SERVE_HELP))
    return parser


def parse(parser: OneLineParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; UsageError for anything the commands do not take.

    argparse gives ``connect``'s MESSAGE arguments only the words before the first option, so
    words after an option (``connect URL --ca FILE hello``) are added to the messages here.
    """
    options, extras = parser.parse_known_args(argv)
    unknown = [word for word in extras if word.startswith("-") or options.command != "connect"]
    if unknown:
        raise UsageError(parser.prog, f"unrecognized arguments: {' '.join(unknown)}")
    if extras:
        options.messages = [*options.messages, *extras]
    return options


def _add_connect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", type=websocket_url, metavar="URL", help="ws://, wss://, http:// or https://")
    parser.add_argument("messages", nargs="*", metavar="MESSAGE", help="messages to send (as --execute)")
    parser.add_argument("-x", "--execute", action="append", default=[], metavar="MSG",
                        help="send MSG once connected (repeatable); standard input is not read")
    parser.add_argument("-w", "--wait", type=seconds, metavar="S",
                        help="after the last message sent, print replies for S seconds, then close")
    parser.add_argument("-s", "--protocol", action="append", default=[], metavar="NAME",
                        help="offer a subprotocol (repeatable)")
    parser.add_argument("-H", "--header", action="append", default=[], type=header_field,
                        metavar="'NAME: VALUE'", help="add a request header (repeatable)")
    parser.add_argument("--proxy", metavar="URL",
                        help="http://, https:// or socks5:// proxy (default: http_proxy, https_proxy, "
                             "all_proxy from the environment); 'none' for a direct connection")
    parser.add_argument("--ca", type=readable_file, metavar="FILE",
                        help="trust the CA certificates in this PEM file for wss")
    parser.add_argument("-k", "--insecure", action="store_true",
                        help="wss without verifying the server's certificate")
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("-o", "--origin", metavar="ORIGIN", help="send this Origin header")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="debug log on standard error; -vv adds every frame")


def _add_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("port", type=port_number, nargs="?", default=DEFAULT_PORT,
                        metavar="PORT", help=f"TCP port, 0 for any free one (default {DEFAULT_PORT})")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--tls", nargs=2, type=readable_file, metavar=("CERT", "KEY"),
                        help="serve wss:// with this certificate chain and key (PEM files)")
    parser.add_argument("--origin", action="append", metavar="ORIGIN",
                        help="accept only this Origin (repeatable; others get 403)")
    parser.add_argument("--allow-drafts", action="store_true", help="accept hixie-75/76 handshakes")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="debug log on standard error; -vv adds every frame")
