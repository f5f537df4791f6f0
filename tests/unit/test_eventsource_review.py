"""Review findings on the event-stream reader's sans-I/O half: line splitting across pieces, the
``retry`` field's range, 1xx interim heads and the encoding of ``Last-Event-ID``."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from faye_websocket.driver.http import Headers, Request
from faye_websocket.eventsource import wire
from faye_websocket.eventsource.parser import (
    EventStreamParser,
    ServerSentEvent,
    request_head,
)
from tests.paths import EXAMPLES

MAX_RETRY_MS = 3_600_000  # the cap the reader puts on a server's retry (one hour)


DEMO_PATH = EXAMPLES / "demo_eventsource.py"


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_eventsource_review", DEMO_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def feed_pieces(pieces: list[bytes]) -> list[ServerSentEvent]:
    parser = EventStreamParser()
    return [event for piece in pieces for event in parser.feed(piece)]


def test_crlf_split_after_the_cr_then_a_lone_lf_is_a_blank_line() -> None:
    # "\r" | "\n" is one line end; the next "\n" is a second one (the blank line that dispatches).
    # WHATWG HTML 9.2.5: CRLF, LF and CR each end a line, however the bytes are split.
    assert feed_pieces([b"data: a\r", b"\n", b"\n"]) == [ServerSentEvent("message", "a", "")]


def test_crlf_then_lf_byte_at_a_time_dispatches() -> None:
    stream = b"data: a\r\n\ndata: b\r\n\n"
    expected = [ServerSentEvent("message", "a", ""), ServerSentEvent("message", "b", "")]
    assert feed_pieces([stream[i : i + 1] for i in range(len(stream))]) == expected


def test_cr_then_a_piece_that_decodes_to_nothing_still_pairs_with_the_lf() -> None:
    # b"\xe2" is half a UTF-8 character: the decoder yields "" for it, then "\u20ac" later.
    events = feed_pieces([b"data: a\r", b"", b"\n", b"\n", b"data: \xe2", b"\x82\xac\r", b"\n\r\n"])
    assert events == [ServerSentEvent("message", "a", ""), ServerSentEvent("message", "\u20ac", "")]


def test_retry_with_thousands_of_digits_is_capped_not_an_error() -> None:
    # int() refuses strings over 4300 digits (CPython's int_max_str_digits); the parser must not
    # raise out of the reader for a field the standard says to interpret as an integer.
    parser = EventStreamParser()
    parser.feed(b"retry: " + b"9" * 5000 + b"\n\n")
    assert parser.retry == MAX_RETRY_MS


def test_retry_above_the_cap_is_capped_and_below_it_is_kept() -> None:
    parser = EventStreamParser()
    parser.feed(b"retry: 100000000000000000000000\n")
    assert parser.retry == MAX_RETRY_MS
    parser.feed(b"retry: 2500\n")
    assert parser.retry == 2500


def test_last_event_id_is_sent_as_utf8_as_browsers_do() -> None:
    # WHATWG HTML 9.2.4: the Last-Event-ID header value is the last event ID string, UTF-8 encoded.
    head = request_head("h", "/", last_event_id="\u65e5\u672c\u20ac")
    assert b"Last-Event-ID: " + "\u65e5\u672c\u20ac".encode() + b"\r\n" in head


def test_writer_reads_a_utf8_last_event_id_from_a_latin1_decoded_header() -> None:
    # http.server and WSGI (PEP 3333) hand header bytes over decoded as latin-1.
    raw = "\u65e5\u672c".encode().decode("latin-1")
    request = Request("GET", "/", Headers([("Last-Event-ID", raw)]))
    assert wire.last_event_id(request) == "\u65e5\u672c"


def test_writer_keeps_a_latin1_last_event_id_that_is_not_utf8() -> None:
    request = Request("GET", "/", Headers([("Last-Event-ID", "caf\xe9")]))
    assert wire.last_event_id(request) == "caf\xe9"


@pytest.mark.parametrize("value", ["\xb2", "1" * 5000, "-1", " 7", ""])
def test_demo_first_number_never_raises(value: str) -> None:
    assert load_demo().first_number(value) == 1


def test_demo_first_number_continues_from_a_number() -> None:
    assert load_demo().first_number("41") == 42


def test_wsgi_url_is_the_request_target_as_sent_not_the_decoded_path() -> None:
    # PEP 3333: PATH_INFO is percent-decoded and carries the path's bytes as latin-1 characters;
    # the socket form's url uses the raw target, so the WSGI form must quote it back.
    from faye_websocket.eventsource.writer import request_from

    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/a b/" + "\u00e9".encode().decode("latin-1") + "/x%2Fy",
        "QUERY_STRING": "q=%20&r=1",
        "HTTP_HOST": "h:81",
    }
    assert wire.request_url(request_from(environ)) == "http://h:81/app/a%20b/%C3%A9/x%252Fy?q=%20&r=1"


def reference_events(stream: bytes) -> list[ServerSentEvent]:
    """WHATWG HTML 9.2.6 read literally, on the whole stream at once (no pieces, no bounds)."""
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines, line, i = [], "", 0
    while i < len(text):
        char = text[i]
        if char in "\r\n":
            lines.append(line)
            line = ""
            if char == "\r" and text[i + 1 : i + 2] == "\n":
                i += 1
        else:
            line += char
        i += 1
    events, data, kind, id_buffer, last_id = [], "", "", "", ""
    for line in lines:  # the unterminated last line (and event) is never processed
        if line == "":
            last_id = id_buffer
            if data:
                events.append(ServerSentEvent(kind or "message", data[:-1], last_id))
            data, kind = "", ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            kind = value
        elif name == "data":
            data += value + "\n"
        elif name == "id" and "\0" not in value:
            id_buffer = value
    return events


ALPHABET = [b"\r", b"\n", b"\r\n", b":", b" ", b"data", b"event", b"id", b"retry", b"x", b"\xc3\xa9",
            b"\xe2\x82", b"\xac", b"\xef\xbb\xbf", b"\0", b"5"]


def test_random_streams_fed_in_random_pieces_match_a_literal_reading_of_the_standard() -> None:
    import random

    rng = random.Random(20261130)
    for _ in range(3000):
        stream = b"".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 40)))
        # Few pieces or many: a piece of its own for a lone "\n" is where line-end bugs hide.
        count = rng.choice([rng.randrange(1, 8), len(stream) + 1])
        cuts = sorted(rng.sample(range(len(stream) + 1), k=min(len(stream) + 1, count)))
        pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
        assert feed_pieces(pieces) == reference_events(stream), (stream, pieces)


def test_a_content_length_of_non_ascii_digits_reads_until_eof_not_a_crash() -> None:
    from faye_websocket.driver.http import Headers
    from faye_websocket.eventsource.body import BodyDecoder

    decoder = BodyDecoder.for_response(Headers([("Content-Length", "\u00b2")]))
    assert not decoder.done
