"""``faye-websocket connect URL``: a WebSocket client for terminals, pipes and scripts.

Messages received are printed on standard output, one per line (binary as ``<N bytes: hex>``;
with a terminal each is prefixed ``< ``). Messages to send come from the command line (MESSAGE
arguments and ``--execute``) or, without them, from standard input, one per line. Everything else
(close codes, failures) goes to standard error, so standard output stays the conversation.

Threads: the main thread sends (reading standard input through ``select.poll`` with a wake-up pipe,
so a close by the server interrupts a pending read); one printer thread reads the connection
(``for message in client``), dispatches the close event and prints.
"""

from __future__ import annotations

import argparse
import codecs
import logging
import os
import select
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..client import Client, connect
from ..errors import WebSocketError
from ..events import CloseEvent
from ..extensions.permessage_deflate import PermessageDeflate
from .arguments import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, PROG
from .failures import describe_connect_failure

REPLY_TIMEOUT = 10.0  # seconds to wait for the replies to MESSAGE arguments (no --wait given)
QUIET_BEFORE_CLOSE = 0.5  # seconds without a message before closing at the end of standard input
CLOSE_WAIT = 10.0  # seconds for the closing handshake once we have closed
STDIN_CHUNK = 65536  # bytes per read of standard input
SHOWN_BINARY_BYTES = 64  # bytes of a binary message shown in hex
# Codes that end a conversation normally (RFC 6455 section 7.4.1): normal closure, going away,
# and a close frame without a code (1005, section 7.1.5). Anything else exits with EXIT_FAILURE.
NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})
NO_PROXY = "none"

logger = logging.getLogger("faye_websocket.cli")


def run_connect(options: argparse.Namespace) -> int:
    """The ``connect`` command; returns the exit status. Runs on the main thread."""
    logger.debug("connecting to %s", options.url)
    try:
        client = connect(options.url, options.protocol or None, **client_options(options))
    except (OSError, WebSocketError) as error:  # first: ssl's certificate error is a ValueError too
        print(f"{PROG} connect: {describe_connect_failure(error)}", file=sys.stderr)
        return EXIT_FAILURE
    except (ValueError, TypeError) as error:  # the URL or an option value (the library's check)
        print(f"{PROG} connect: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG} connect: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    logger.debug("open: HTTP %s, subprotocol %r, extensions %r", client.status_code, client.protocol,
                 client.headers.get("sec-websocket-extensions", ""))
    messages = [*options.messages, *options.execute]
    return Conversation(client, interactive=_is_terminal()).run(messages, options.wait)


def client_options(options: argparse.Namespace) -> dict[str, Any]:
    """The keyword options for ``connect()`` that the command-line flags ask for."""
    chosen: dict[str, Any] = {}
    if options.header:
        chosen["headers"] = list(options.header)
    if options.proxy is not None:
        chosen["proxy"] = False if options.proxy.lower() == NO_PROXY else options.proxy
    if options.origin is not None:
        chosen["origin"] = options.origin
    if options.deflate:
        chosen["extensions"] = [PermessageDeflate()]
    if options.url.lower().startswith(("wss:", "https:")):  # tls= only means something for wss
        if options.insecure:
            chosen["tls"] = {"verify": False}
        elif options.ca:
            chosen["tls"] = {"cafile": options.ca}
    return chosen


class Conversation:
    """One connected client: sends, prints what arrives, closes, and says how it ended."""

    def __init__(self, client: Client, *, interactive: bool) -> None:
        self.client = client
        self.interactive = interactive
        self.close_event: CloseEvent | None = None
        self.we_closed = False
        self.received = 0  # messages printed so far (under _changed)
        self._changed = threading.Condition()
        self._ended = threading.Event()  # the printer has seen the end of the connection
        self._wake_read, self._wake_write = os.pipe()  # interrupts the wait for standard input
        client.on("close", self._on_close)
        self._printer = threading.Thread(target=self._print_messages, name="connect-printer", daemon=True)

    def run(self, messages: list[str], wait: float | None) -> int:
        """Send ``messages`` (or standard input's lines), wait for replies, close; the exit status."""
        self._printer.start()
        try:
            if self.interactive and not messages:
                print("Connected (press CTRL+D to close)", file=sys.stderr, flush=True)
            if messages:
                self._send_all(messages)
                self._await_replies(len(messages), wait)
            else:
                self._send_all(self._stdin_lines())
                self._await_quiet(wait)
        except KeyboardInterrupt:
            pass  # CTRL+C: close as at the end of input
        finally:
            self._close()
        return self._report()

    # -- sending (main thread) ----------------------------------------------------------------

    def _send_all(self, messages: Iterator[str] | list[str]) -> None:
        for message in messages:
            if not self.client.send(message):  # False once closing: nothing more can go out
                return

    def _stdin_lines(self) -> Iterator[str]:
        """Standard input's lines (without the line end) until its end or the connection's."""
        try:
            fd = sys.stdin.fileno() if sys.stdin is not None else -1
        except (OSError, ValueError):  # no standard input at all (closed, or not a file)
            return
        if fd < 0:
            return
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        while not self._ended.is_set():
            ready = {ready_fd for ready_fd, _ in poller.poll()}  # woken by input or by the close
            if self._wake_read in ready:
                return
            chunk = os.read(fd, STDIN_CHUNK)
            if not chunk:
                break
            *lines, pending = (pending + decoder.decode(chunk)).split("\n")
            for line in lines:
                yield line.removesuffix("\r")
        tail = pending + decoder.decode(b"", final=True)
        if tail:
            yield tail

    def _await_replies(self, count: int, wait: float | None) -> None:
        if wait is not None:
            self._ended.wait(wait)
            return
        with self._changed:
            done = self._changed.wait_for(
                lambda: self.received >= count or self._ended.is_set(), REPLY_TIMEOUT
            )
        if not done:
            print(f"{PROG} connect: no reply within {REPLY_TIMEOUT:g} s", file=sys.stderr)

    def _await_quiet(self, wait: float | None) -> None:
        """After the last line sent: wait ``wait`` seconds, or until replies stop coming.

        Messages arriving after our close frame are dropped (RFC 6455 section 7.1.2), so the
        replies to the last lines are let in first.
        """
        if wait is not None:
            self._ended.wait(wait)
            return
        deadline = time.monotonic() + REPLY_TIMEOUT
        with self._changed:
            while not self._ended.is_set() and time.monotonic() < deadline:
                if not self._changed.wait_for(self._news_since(self.received), QUIET_BEFORE_CLOSE):
                    return

    def _news_since(self, seen: int) -> Callable[[], bool]:
        """A predicate: a message arrived after the first ``seen``, or the connection ended."""
        return lambda: self.received != seen or self._ended.is_set()

    def _close(self) -> None:
        if not self._ended.is_set():
            self.we_closed = True
            self.client.close()
        self._printer.join(CLOSE_WAIT)
        if not self._printer.is_alive():  # else it still writes to the pipe: left to the exit
            os.close(self._wake_read)
            os.close(self._wake_write)

    # -- receiving (printer thread) -----------------------------------------------------------

    def _print_messages(self) -> None:
        try:
            for message in self.client:
                self._show(message)
                with self._changed:
                    self.received += 1
                    self._changed.notify_all()
        except BrokenPipeError:  # standard output went away (`| head -1`): stop listening
            _silence_stdout()
            self.we_closed = True
            self.client.close()
        finally:
            with self._changed:
                self._ended.set()
                self._changed.notify_all()
            os.write(self._wake_write, b"x")

    def _show(self, message: str | bytes) -> None:
        prefix = "< " if self.interactive else ""
        print(prefix + show(message), flush=True)

    def _on_close(self, event: CloseEvent) -> None:
        self.close_event = event

    # -- the end (main thread) ----------------------------------------------------------------

    def _report(self) -> int:
        event = self.close_event
        if event is None:
            print(f"{PROG} connect: the connection did not close within {CLOSE_WAIT:g} s", file=sys.stderr)
            return EXIT_FAILURE
        normal = event.code in NORMAL_CLOSE_CODES
        if not self.we_closed or not normal or self.interactive:
            who = "you" if self.we_closed else "the server"
            if event.code == 1006:  # RFC 6455 section 7.1.5: no close frame was received
                line = f"connection lost (1006) {event.reason}"
            else:
                line = f"closed by {who}: {event.code} {event.reason}"
            print(f"{PROG} connect: {line}".rstrip(), file=sys.stderr)
        return EXIT_OK if normal else EXIT_FAILURE


def show(message: str | bytes) -> str:
    """How ``connect`` prints a message: text as is, binary as ``<N bytes: hex...>``."""
    if isinstance(message, str):
        return message
    more = "..." if len(message) > SHOWN_BINARY_BYTES else ""
    return f"<{len(message)} bytes: {message[:SHOWN_BINARY_BYTES].hex()}{more}>"


def _is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
    except (OSError, ValueError):
        return False


def _silence_stdout() -> None:
    # Python's advice for SIGPIPE: point stdout at /dev/null so the flush at exit does not fail too.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
