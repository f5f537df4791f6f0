"""Reading an event stream: the WHATWG parser, the client's request head and response check.

This is the sans-I/O half of ``faye_websocket.eventsource.client``: bytes of the response body go
in (any split), ``ServerSentEvent`` records come out. It follows the HTML standard, section 9.2.6
"Interpreting an event stream": UTF-8 decoding with replacement, one BOM skipped at the start,
lines ended by CRLF, LF or CR, comments, the ``event``, ``data``, ``id`` and ``retry`` fields, and
dispatch on a blank line only (an unfinished event at the end of the stream is dropped).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Iterable

from ..driver.http import Response, serialize_head, with_user_fields
from ..errors import HandshakeError, MessageTooLarge
from .wire import CONTENT_TYPE, LAST_EVENT_ID_HEADER

DEFAULT_EVENT_TYPE = "message"  # WHATWG HTML 9.2.6: an event without an event field
DEFAULT_MAX_LINE_LENGTH = 1024 * 1024  # characters; a bound on memory, far above real event lines
DEFAULT_MAX_LENGTH = 2**26 - 1  # characters of data per event; faye's max_length for messages
# The longest reconnection time a server may set (one hour). WHATWG HTML 9.2.6 takes any run of
# ASCII digits; without a cap a stray "retry: 99999999999" would park the reader for years (or
# overflow the wait), and int() refuses more than 4300 digits.
MAX_RETRY_MS = 3_600_000
_MAX_RETRY_DIGITS = len(str(MAX_RETRY_MS))
STATUS_OK = 200
STATUS_NO_CONTENT = 204  # WHATWG HTML 9.2.3: the server tells the client to stop reconnecting
_BOM = "\ufeff"
_LINE_END = re.compile(r"\r\n|\r|\n")  # WHATWG HTML 9.2.5: CRLF, LF or CR ends a line


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event, named as in the browser's ``MessageEvent``.

    ``type`` is the ``event`` field or ``"message"``; ``data`` is the data lines joined with LF;
    ``last_event_id`` is the stream's last event ID when this event was dispatched.
    """

    type: str
    data: str
    last_event_id: str = ""


class EventStreamParser:
    """Incremental event-stream parser; feed body bytes, collect events.

    ``retry`` becomes the reconnection time in milliseconds when the stream sets one (else None),
    capped at ``MAX_RETRY_MS``; ``last_event_id`` is kept across events as the standard requires.
    Raises MessageTooLarge when a line exceeds ``max_line_length`` characters or an event's data
    exceeds ``max_length``.
    Not thread-safe: one reader feeds it.
    """

    def __init__(
        self,
        *,
        last_event_id: str = "",
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        self.last_event_id = last_event_id
        self.retry: int | None = None
        self._max_line_length = max_line_length
        self._max_length = max_length
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line: list[str] = []
        self._line_length = 0
        self._after_cr = False
        self._at_start = True
        self._reset_buffers()
        self._id_buffer = last_event_id
        self._events: list[ServerSentEvent] = []

    def _reset_buffers(self) -> None:
        self._data: list[str] = []
        self._data_length = 0
        self._type = ""

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Parse more body bytes; returns the events completed by them (often none)."""
        text = self._decoder.decode(data)
        if self._at_start and text:
            self._at_start = False
            if text.startswith(_BOM):
                text = text[1:]
        self._split_lines(text)
        events, self._events = self._events, []
        return events

    def restart(self) -> None:
        """Begin a new response on reconnection: drop partial lines and events, keep the last ID."""
        self._decoder.reset()
        self._line, self._line_length, self._after_cr, self._at_start = [], 0, False, True
        self._reset_buffers()
        self._id_buffer = self.last_event_id

    def _split_lines(self, text: str) -> None:
        if not text:
            return  # nothing decoded yet: a CR that ended the previous piece still waits for its LF
        if self._after_cr and text.startswith("\n"):
            text = text[1:]  # the LF of a CRLF whose CR ended the previous piece
        # That CR is paired (or was not followed by LF); a further LF ends a line of its own.
        self._after_cr = False
        if not text:
            return
        start = 0
        for match in _LINE_END.finditer(text):
            self._add_to_line(text[start : match.start()])
            self._end_line()
            start = match.end()
        # A CR at the very end may be the first half of a CRLF split across two pieces.
        self._after_cr = text.endswith("\r")
        if start < len(text):
            self._add_to_line(text[start:])

    def _add_to_line(self, piece: str) -> None:
        self._line_length += len(piece)
        if self._line_length > self._max_line_length:
            raise MessageTooLarge(f"event stream line longer than {self._max_line_length} characters")
        self._line.append(piece)

    def _end_line(self) -> None:
        line = "".join(self._line)
        self._line, self._line_length = [], 0
        if not line:
            self._dispatch()
        elif not line.startswith(":"):  # a colon first makes the line a comment
            name, colon, value = line.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            self._process_field(name, value)

    def _process_field(self, name: str, value: str) -> None:
        if name == "event":
            self._type = value
        elif name == "data":
            self._data_length += len(value) + 1
            if self._data_length > self._max_length:
                raise MessageTooLarge(f"event data longer than {self._max_length} characters")
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:  # the standard ignores an id with NUL
                self._id_buffer = value
        elif name == "retry" and value.isascii() and value.isdigit():
            digits = value.lstrip("0") or "0"
            self.retry = MAX_RETRY_MS if len(digits) > _MAX_RETRY_DIGITS else min(int(digits), MAX_RETRY_MS)
        # Any other field name is ignored (WHATWG HTML 9.2.6).

    def _dispatch(self) -> None:
        self.last_event_id = self._id_buffer
        if self._data:
            data = "\n".join(self._data)  # joined with LF; the trailing LF is never added
            self._events.append(ServerSentEvent(self._type or DEFAULT_EVENT_TYPE, data, self.last_event_id))
        self._reset_buffers()


def request_head(
    host: str, target: str, *, last_event_id: str = "", headers: Iterable[tuple[str, str]] = ()
) -> bytes:
    """The GET request a browser's EventSource sends, with ``Last-Event-ID`` when there is one.

    ``host`` is the Host header value (with the port when it is not the scheme's default);
    ``headers`` named like a field of ours (Host, Accept) take its place.
    """
    fields = [
        ("Host", host),
        ("Accept", CONTENT_TYPE),
        ("Cache-Control", "no-cache"),
    ]
    if last_event_id:
        # WHATWG HTML 9.2.4 sends the ID UTF-8 encoded; the head itself is written as latin-1.
        fields.append((LAST_EVENT_ID_HEADER, last_event_id.encode("utf-8").decode("latin-1")))
    return serialize_head(f"GET {target} HTTP/1.1", with_user_fields(fields, headers))


def check_response(response: Response) -> HandshakeError | None:
    """None when ``response`` starts an event stream, else the error that ends the EventSource.

    WHATWG HTML 9.2.3: anything but 200 with ``Content-Type: text/event-stream`` fails the
    connection for good (no reconnection); 204 is how a server says "stop".
    """
    headers = response.headers.to_dict()
    if response.status == STATUS_NO_CONTENT:
        return HandshakeError("EventSource server answered 204 No Content: stop reconnecting", 204, headers)
    if response.status != STATUS_OK:
        message = f"EventSource response has status {response.status} {response.reason}, expected 200"
        return HandshakeError(message, response.status, headers)
    media_type = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if media_type != CONTENT_TYPE:
        message = f"EventSource response has Content-Type {media_type or 'none'!r}, expected {CONTENT_TYPE!r}"
        return HandshakeError(message, response.status, headers)
    return None
