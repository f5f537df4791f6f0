"""Server-Sent Events wire format for the writer: request checks, response head, event framing.

Everything here turns values into bytes (or reads a parsed request); the blocking writer in
``faye_websocket.eventsource.writer`` and its WSGI form put those bytes on the network. The line endings
are CRLF, byte for byte as faye-websocket-node writes them, so captures of either can be compared.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Iterable, Mapping, Union
from urllib.parse import parse_qs, urlsplit

from ..driver import http
from ..driver.http import Request, serialize_head, to_headers

CONTENT_TYPE = "text/event-stream"  # WHATWG HTML, section 9.2 (the MIME type of an event stream)
DEFAULT_RETRY = 5.0  # seconds; faye-websocket-node's default ``retry`` option
DEFAULT_PING = 10.0  # seconds; faye-websocket-node's default ``ping`` option
LAST_EVENT_ID_HEADER = "Last-Event-ID"  # WHATWG HTML, section 9.2.4 (sent on reconnection)
LAST_EVENT_ID_PARAM = "lastEventId"  # query parameter used by EventSource polyfills (Yaffle et al.)
EOL = "\r\n"  # faye-websocket-node ends every field line with CRLF
PING_COMMENT = b":" + EOL.encode() + EOL.encode()  # a comment line then a blank line, as faye writes
STATUS_LINE = "HTTP/1.1 200 OK"
# Header fields faye-websocket-node writes before the caller's own (lib/faye/eventsource.js).
FIXED_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Type", CONTENT_TYPE),
    ("Cache-Control", "no-cache, no-store"),
    ("Connection", "close"),
)
_EVENT_END = EOL + EOL  # a field line's end, then the blank line that dispatches the event
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")

HeaderInput = Union[Mapping[str, str], Iterable[tuple[str, str]], None]


def accepts_event_stream(accept: str | None) -> bool:
    """True when an ``Accept`` value lists ``text/event-stream`` (parameters and case ignored).

    The original compared whole comma-separated items, so ``text/event-stream; q=1`` was refused.
    """
    if not accept:
        return False
    return any(item.split(";", 1)[0].strip().lower() == CONTENT_TYPE for item in accept.split(","))


def is_event_source(request: Request) -> bool:
    """True for a GET request whose ``Accept`` header asks for an event stream."""
    return request.method.upper() == "GET" and accepts_event_stream(request.headers.get("Accept"))


def request_url(request: Request, *, secure: bool = False) -> str:
    """``http[s]://<Host header><target>``, as the original's ``url`` property.

    ``secure`` is whether the socket itself is TLS; forwarding headers can also make it https.
    """
    return http.request_url(request, secure=secure, schemes=("http", "https"))


def last_event_id(request: Request) -> str:
    """The ``Last-Event-ID`` header (UTF-8), else the ``lastEventId`` query parameter, else ``""``.

    Browsers send the header when they reconnect; polyfills that cannot set headers send the
    query parameter instead (the original read the header only).
    """
    header = request.headers.get(LAST_EVENT_ID_HEADER)
    if header is not None:
        return _utf8_field(header)
    query = urlsplit(request.target).query
    values = parse_qs(query, keep_blank_values=True).get(LAST_EVENT_ID_PARAM)
    return values[0] if values else ""


def _utf8_field(value: str) -> str:
    """A header value read as latin-1 (http.server, PEP 3333), decoded as the UTF-8 it was sent as.

    Browsers send ``Last-Event-ID`` UTF-8 encoded (WHATWG HTML 9.2.4); a value that is not UTF-8
    is kept as it was read.
    """
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def response_head(headers: HeaderInput = None) -> bytes:
    """The raw ``200 OK`` head: faye's fixed fields, then the caller's, then the blank line.

    Raises ValueError if a custom header name or value would break the head (CR, LF, NUL).
    """
    return serialize_head(STATUS_LINE, [*FIXED_HEADERS, *to_headers(headers)])


def stream_start(headers: HeaderInput = None, retry: float | None = DEFAULT_RETRY) -> bytes:
    """What a stream writes first: ``response_head(headers)`` then ``retry_field(retry)``.

    Raises ValueError as those do. Without custom headers the bytes are made once per ``retry``.
    """
    if headers is None and type(retry) in _PLAIN_NUMBERS:
        return _plain_stream_start(retry)
    return response_head(headers) + retry_field(retry)


_PLAIN_NUMBERS = (int, float, type(None))  # retry values whose start may be cached (hashable, exact)


@functools.lru_cache(maxsize=32)
def _plain_stream_start(retry: float | None) -> bytes:
    return response_head(None) + retry_field(retry)


def wsgi_headers(headers: HeaderInput = None) -> list[tuple[str, str]]:
    """Response headers for WSGI's ``start_response``: the fixed ones minus hop-by-hop ``Connection``.

    PEP 3333 forbids applications from setting hop-by-hop fields; the server frames the body.
    """
    fixed = [(name, value) for name, value in FIXED_HEADERS if name != "Connection"]
    return [*fixed, *to_headers(headers)]


def retry_field(retry: float | None) -> bytes:
    """``retry: <milliseconds>`` and a blank line, or ``b""`` when ``retry`` is None.

    Raises ValueError for a negative or non-finite value. Milliseconds are rounded down, as in
    the original (``Math.floor(retry * 1000)``).
    """
    if retry is None:
        return b""
    if not math.isfinite(retry) or retry < 0:
        raise ValueError(f"retry must be a finite number of seconds >= 0, got {retry!r}")
    return f"retry: {math.floor(retry * 1000)}{EOL}{EOL}".encode()


def _check_field(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"EventSource {name} must not contain a line break: {value!r}")


def format_event(message: str, *, event: str | None = None, id: str | int | None = None) -> bytes:
    """One event as bytes: optional ``event:`` and ``id:`` lines, ``data:`` lines, a blank line.

    Every line break in ``message`` (CRLF, CR or LF) is kept and followed by ``data: ``, so each
    line becomes its own data field, exactly as the original writes it. ``event`` and ``id`` are
    written whenever they are not None (so id ``0`` and ``""`` are kept; ``id: `` resets the
    client's last event ID). Raises TypeError if ``message`` is not a str, and ValueError if
    ``event`` or ``id`` contains CR or LF (it would inject fields) or ``id`` contains NUL (clients
    ignore such an id).
    """
    if event is None and id is None and type(message) is str and "\n" not in message and "\r" not in message:
        # The common event, one data line: one f-string, and encode()'s UTF-8 default skips the
        # codec lookup that naming the encoding costs.
        return f"data: {message}\r\n\r\n".encode()
    if not isinstance(message, str):
        raise TypeError(f"EventSource messages are str, not {type(message).__name__}")
    lines = []
    if event is not None:
        _check_field("event", event)
        lines.append(f"event: {event}{EOL}")
    if id is not None:
        id_text = str(id)
        _check_field("id", id_text)
        if "\0" in id_text:
            raise ValueError(f"EventSource id must not contain NUL: {id_text!r}")
        lines.append(f"id: {id_text}{EOL}")
    lines.append(f"data: {_prefix_line_breaks(message)}{EOL}{EOL}")
    return "".join(lines).encode("utf-8")


def _prefix_line_breaks(message: str) -> str:
    # The alternation tries CRLF first, so CRLF counts as one break, not as CR then LF.
    return _LINE_BREAK.sub(r"\1data: ", message)
