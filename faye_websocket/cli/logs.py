"""What the command line writes on standard error: the debug log switch and access-log lines."""

from __future__ import annotations

import logging
import sys

from ..logs import trace_frames

LOGGER_NAME = "faye_websocket"  # the library's one logger (handshakes, closes, proxy hops at DEBUG)
DEBUG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def enable_debug_log(*, frames: bool = False) -> None:
    """Send the ``faye_websocket`` logger's records, DEBUG and up, to standard error (``-v``);
    with ``frames``, the frame trace too (``-vv``: every message, ping, pong and close)."""
    trace_frames(frames)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(DEBUG_FORMAT))
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def printable(text: str) -> str:
    """``text`` with control and non-printable characters escaped (``\\x1b``), so that a request
    line cannot move the cursor or forge a log line."""
    if text.isprintable():  # the common line: one check instead of one per character
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def log_line(client: str, message: str) -> None:
    """One access-log line, ``CLIENT MESSAGE``, on standard error (any thread)."""
    sys.stderr.write(f"{client} {printable(message)}\n")
    sys.stderr.flush()
