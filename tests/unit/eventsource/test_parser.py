"""The event-stream parser (WHATWG HTML 9.2.6), the client request head and response check, and
the chunked body decoder. Every stream is also fed one byte at a time and split at every point."""

from __future__ import annotations

import pytest

from faye_websocket.driver.http import Headers, Response
from faye_websocket.errors import HandshakeError, MessageTooLarge, ProtocolError
from faye_websocket.eventsource import wire
from faye_websocket.eventsource.body import BodyDecoder
from faye_websocket.eventsource.parser import (
    EventStreamParser,
    ServerSentEvent,
    check_response,
    request_head,
)

MAX_RETRY_MS = 3_600_000  # the cap the reader puts on a server's retry (one hour)


def parse_whole(stream: bytes, **options: object) -> tuple[list[ServerSentEvent], EventStreamParser]:
    parser = EventStreamParser(**options)  # type: ignore[arg-type]
    return parser.feed(stream), parser


def parse_splits(stream: bytes) -> list[list[ServerSentEvent]]:
    """The events for every two-piece split and for byte-at-a-time feeding."""
    results = []
    for cut in range(len(stream) + 1):
        parser = EventStreamParser()
        results.append(parser.feed(stream[:cut]) + parser.feed(stream[cut:]))
    parser = EventStreamParser()
    results.append([event for i in range(len(stream)) for event in parser.feed(stream[i : i + 1])])
    return results


def events_of(stream: bytes) -> list[ServerSentEvent]:
    events, _ = parse_whole(stream)
    for split in parse_splits(stream):
        assert split == events
    return events


def test_unnamed_event_is_a_message() -> None:
    assert events_of(b"data: hello\n\n") == [ServerSentEvent("message", "hello", "")]


def test_named_event_with_id() -> None:
    assert events_of(b"event: update\nid: 4\ndata: x\n\n") == [ServerSentEvent("update", "x", "4")]


@pytest.mark.parametrize("eol", [b"\r\n", b"\n", b"\r"])
def test_each_line_ending_works(eol: bytes) -> None:
    stream = eol.join([b"data: a", b"data: b", b"", b"data: c", b"", b""])
    assert events_of(stream) == [ServerSentEvent("message", "a\nb"), ServerSentEvent("message", "c")]


def test_mixed_line_endings_from_our_writer_round_trip() -> None:
    message = "one\r\ntwo\nthree\rfour"
    stream = wire.retry_field(1) + wire.format_event(message, event="e", id="1")
    events, parser = parse_whole(stream)
    assert events == [ServerSentEvent("e", "one\ntwo\nthree\nfour", "1")]
    assert parser.retry == 1000
    assert events_of(stream) == events


def test_bom_at_start_is_skipped_once() -> None:
    assert events_of(b"\xef\xbb\xbfdata: x\n\n") == [ServerSentEvent("message", "x")]
    assert events_of(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []  # second BOM is part of a field name


def test_comments_and_unknown_fields_are_ignored() -> None:
    assert events_of(b":ping\n: another\nfoo: bar\ndata: x\n\n") == [ServerSentEvent("message", "x")]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert events_of(b"data:  two spaces\ndata:none\n\n") == [ServerSentEvent("message", " two spaces\nnone")]


def test_field_without_colon_has_an_empty_value() -> None:
    assert events_of(b"data\ndata\n\n") == [ServerSentEvent("message", "\n")]


def test_empty_data_line_dispatches_an_empty_message() -> None:
    assert events_of(b"data: \r\n\r\n") == [ServerSentEvent("message", "")]


def test_block_without_data_dispatches_nothing_but_sets_the_last_event_id() -> None:
    events, parser = parse_whole(b"event: x\nid: 5\n\ndata: y\n\n")
    assert events == [ServerSentEvent("message", "y", "5")]
    assert parser.last_event_id == "5"


def test_id_with_nul_is_ignored() -> None:
    assert events_of(b"id: 1\n\nid: a\0b\ndata: x\n\n") == [ServerSentEvent("message", "x", "1")]


def test_empty_id_resets_the_last_event_id() -> None:
    assert events_of(b"id: 1\ndata: a\n\nid\ndata: b\n\n")[1] == ServerSentEvent("message", "b", "")


def test_last_event_id_persists_across_events() -> None:
    assert [e.last_event_id for e in events_of(b"id: 3\ndata: a\n\ndata: b\n\n")] == ["3", "3"]


@pytest.mark.parametrize(
    ("line", "expected"), [(b"retry: 250", 250), (b"retry: 2.5", None), (b"retry: x1", None)]
)
def test_retry_needs_ascii_digits_only(line: bytes, expected: int | None) -> None:
    _, parser = parse_whole(line + b"\n\n")
    assert parser.retry == expected


def test_unfinished_event_at_end_of_stream_is_not_dispatched() -> None:
    assert events_of(b"data: a\n\ndata: b\n") == [ServerSentEvent("message", "a")]


def test_dispatch_happens_only_on_a_blank_line() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\n") == [ServerSentEvent("message", "a")]


def test_cr_at_a_piece_end_followed_by_lf_is_one_line_end() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == [ServerSentEvent("message", "a")]
    assert parser.feed(b"\n") == []  # this LF ended the blank line's CRLF


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert events_of(b"data: \xff\n\n") == [ServerSentEvent("message", "\ufffd")]


def test_utf8_split_between_pieces_is_decoded_whole() -> None:
    assert events_of("data: \u2603\n\n".encode()) == [ServerSentEvent("message", "\u2603")]


def test_overlong_line_is_refused() -> None:
    parser = EventStreamParser(max_line_length=10)
    parser.feed(b"data: 1234")
    with pytest.raises(MessageTooLarge):
        parser.feed(b"5")


def test_overlong_event_data_is_refused() -> None:
    parser = EventStreamParser(max_length=5)
    with pytest.raises(MessageTooLarge):
        parser.feed(b"data: 123\ndata: 456\n")


def test_restart_keeps_last_id_and_drops_partial_event() -> None:
    parser = EventStreamParser(last_event_id="2")
    parser.feed(b"id: 3\ndata: partial\n")
    parser.restart()
    assert parser.feed(b"data: next\n\n") == [ServerSentEvent("message", "next", "2")]


def test_request_head_is_what_a_browser_sends() -> None:
    assert request_head("h:81", "/s?a=1", last_event_id="9", headers=[("X-A", "b")]) == (
        b"GET /s?a=1 HTTP/1.1\r\nHost: h:81\r\nAccept: text/event-stream\r\n"
        b"Cache-Control: no-cache\r\nLast-Event-ID: 9\r\nX-A: b\r\n\r\n"
    )


def test_request_head_leaves_out_an_empty_last_event_id() -> None:
    assert b"Last-Event-ID" not in request_head("h", "/")


def response(status: int, content_type: str | None = "text/event-stream") -> Response:
    headers = Headers([("Content-Type", content_type)] if content_type else [])
    return Response(status, "Whatever", headers)


def test_event_stream_response_is_accepted_with_parameters() -> None:
    assert check_response(response(200, "text/event-stream; charset=utf-8")) is None


@pytest.mark.parametrize(
    ("resp", "words"),
    [
        (response(204), "204"),
        (response(500), "status 500"),
        (response(200, "text/html"), "text/html"),
        (response(200, None), "none"),
    ],
)
def test_other_responses_end_the_event_source_with_a_clear_error(resp: Response, words: str) -> None:
    error = check_response(resp)
    assert isinstance(error, HandshakeError)
    assert words in str(error)
    assert error.status == resp.status


CHUNKED = b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: x\r\n\r\nignored"


def test_chunked_body_is_decoded_at_every_split() -> None:
    for cut in range(len(CHUNKED) + 1):
        decoder = BodyDecoder(chunked=True)
        assert decoder.feed(CHUNKED[:cut]) + decoder.feed(CHUNKED[cut:]) == b"hello world!"
        assert decoder.done


def test_chunked_body_byte_at_a_time() -> None:
    decoder = BodyDecoder(chunked=True)
    assert b"".join(decoder.feed(CHUNKED[i : i + 1]) for i in range(len(CHUNKED))) == b"hello world!"


def test_bad_chunk_size_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        BodyDecoder(chunked=True).feed(b"zz\r\n")


def test_decoder_choice_follows_the_headers() -> None:
    chunked = BodyDecoder.for_response(Headers([("Transfer-Encoding", "chunked")]))
    assert chunked.feed(b"1\r\na\r\n") == b"a"
    sized = BodyDecoder.for_response(Headers([("Content-Length", "3")]))
    assert sized.feed(b"abcd") == b"abc" and sized.done
    until_eof = BodyDecoder.for_response(Headers())
    assert until_eof.feed(b"abc") == b"abc" and not until_eof.done


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
    decoder = BodyDecoder.for_response(Headers([("Content-Length", "\u00b2")]))
    assert not decoder.done
