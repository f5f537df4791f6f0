"""What faye_websocket logs, and how to switch the frame trace on.

Everything goes to the ``faye_websocket`` logger at DEBUG (nothing above DEBUG in normal
operation; a listener that raises is logged with its traceback at ERROR, as before). Each
connection gets an id (``c7`` for the seventh client connection, ``s3`` for a server one) that
starts every line about it, so that one connection can be followed through a busy log:
``logging.basicConfig(level=logging.DEBUG)`` shows handshake heads (with credentials masked),
proxy hops, close codes and reasons, and errors.

The frame trace (every message, ping, pong and close, in and out, with its size) is too much for
a normal debug log: it has its own switch, ``trace_frames(True)`` or the environment variable
``FAYE_WEBSOCKET_TRACE=1``, and goes to the ``faye_websocket.frames`` logger. It is decided when
a connection is made, so the hot path pays nothing when it is off (no check per message).
"""

from __future__ import annotations

import itertools
import logging
import os
from typing import Iterable

logger = logging.getLogger("faye_websocket")
frame_logger = logging.getLogger("faye_websocket.frames")

# Header fields whose values are secrets (RFC 9110 section 11.6.2 and 11.7.2; RFC 6265 cookies).
SECRET_FIELDS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
MASK = "***"
TRACE_ENVIRONMENT = "FAYE_WEBSOCKET_TRACE"
TRACE_PREVIEW = 60  # characters of a text message shown in the frame trace

_frame_trace = os.environ.get(TRACE_ENVIRONMENT, "") not in ("", "0")
_ids = {"c": itertools.count(1), "s": itertools.count(1)}  # next() on a count is atomic under the GIL


def trace_frames(enabled: bool = True) -> None:
    """Switch the frame trace on or off for connections made from now on (any thread)."""
    global _frame_trace
    _frame_trace = enabled


def frame_trace_enabled() -> bool:
    """True when connections made now trace their frames."""
    return _frame_trace


def debug_enabled() -> bool:
    """True when the ``faye_websocket`` logger would emit a DEBUG record (cheap: cached by logging)."""
    return logger.isEnabledFor(logging.DEBUG)


def connection_id(client: bool) -> str:
    """A new id for a connection: ``c<n>`` on the client side, ``s<n>`` on the server side."""
    prefix = "c" if client else "s"
    return f"{prefix}{next(_ids[prefix])}"


def masked_fields(fields: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``fields`` with the values of credential fields replaced (the scheme of Authorization kept)."""
    masked = []
    for name, value in fields:
        if name.lower() in SECRET_FIELDS:
            scheme, _, rest = value.partition(" ")
            value = f"{scheme} {MASK}" if rest and name.lower().endswith("authorization") else MASK
        masked.append((name, value))
    return masked


def masked_head(head: bytes | str) -> str:
    """An HTTP head for the log: credential field values masked, lines joined with `` | ``."""
    text = head.decode("latin-1") if isinstance(head, bytes) else head
    lines = [line for line in text.split("\r\n") if line]
    if not lines:
        return ""
    fields = [line.split(":", 1) for line in lines[1:] if ":" in line]
    shown = [f"{name}: {value}" for name, value in masked_fields((n, v.strip()) for n, v in fields)]
    return " | ".join([lines[0], *shown])


def describe(data: str | bytes) -> str:
    """A message for the frame trace: its kind, size and the start of a text message."""
    if isinstance(data, str):
        preview = data if len(data) <= TRACE_PREVIEW else data[:TRACE_PREVIEW] + "..."
        return f"text {len(data.encode('utf-8', 'replace'))} B {preview!r}"
    return f"binary {len(data)} B"
