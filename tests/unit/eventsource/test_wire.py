"""The EventSource writer's wire format: exact bytes, request checks, url and last event id."""

from __future__ import annotations

import pytest

from faye_websocket.driver.http import Headers, Request
from faye_websocket.eventsource import wire


def make_request(target: str = "/stream", method: str = "GET", **headers: str) -> Request:
    fields = Headers((name.replace("_", "-"), value) for name, value in headers.items())
    return Request(method, target, fields)


# The node original's bytes, captured from faye-websocket 0.11.4 (reference/components.md).
ORIGINAL_CAPTURE = b"retry: 1000\r\n\r\nevent: msg\r\nid: 1\r\ndata: one\r\n\r\n"


def test_retry_then_named_event_with_id_match_the_original_capture() -> None:
    assert wire.retry_field(1) + wire.format_event("one", event="msg", id="1") == ORIGINAL_CAPTURE


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, b"data: hello\r\n\r\n"),
        ({"event": "update"}, b"event: update\r\ndata: hello\r\n\r\n"),
        ({"id": "7"}, b"id: 7\r\ndata: hello\r\n\r\n"),
        ({"id": 7}, b"id: 7\r\ndata: hello\r\n\r\n"),
        ({"event": "update", "id": "7"}, b"event: update\r\nid: 7\r\ndata: hello\r\n\r\n"),
    ],
)
def test_send_forms_produce_exact_bytes(kwargs: dict[str, object], expected: bytes) -> None:
    assert wire.format_event("hello", **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("zero", [0, "0"])
def test_id_zero_is_written_unlike_the_original(zero: object) -> None:
    assert wire.format_event("x", id=zero) == b"id: 0\r\ndata: x\r\n\r\n"  # type: ignore[arg-type]


def test_empty_id_is_written_because_it_resets_the_clients_last_event_id() -> None:
    assert wire.format_event("x", id="") == b"id: \r\ndata: x\r\n\r\n"


def test_empty_message_is_one_empty_data_line() -> None:
    assert wire.format_event("") == b"data: \r\n\r\n"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("a\nb", b"data: a\ndata: b\r\n\r\n"),
        ("a\r\nb", b"data: a\r\ndata: b\r\n\r\n"),
        ("a\rb", b"data: a\rdata: b\r\n\r\n"),
        ("a\r\n\nb\rc", b"data: a\r\ndata: \ndata: b\rdata: c\r\n\r\n"),
        ("end\n", b"data: end\ndata: \r\n\r\n"),
    ],
)
def test_every_line_break_starts_a_new_data_line_keeping_the_break(message: str, expected: bytes) -> None:
    assert wire.format_event(message) == expected


def test_non_ascii_text_is_utf8() -> None:
    assert wire.format_event("caf\u00e9 \u2603") == "data: caf\u00e9 \u2603\r\n\r\n".encode()


@pytest.mark.parametrize("field", ["event", "id"])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\nb"])
def test_line_break_in_event_or_id_is_refused_because_it_would_inject_fields(field: str, bad: str) -> None:
    with pytest.raises(ValueError, match=field):
        wire.format_event("x", **{field: bad})  # type: ignore[arg-type]


def test_nul_in_id_is_refused_because_clients_ignore_such_ids() -> None:
    with pytest.raises(ValueError, match="NUL"):
        wire.format_event("x", id="a\0b")


def test_non_text_message_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        wire.format_event(b"bytes")  # type: ignore[arg-type]


def test_ping_is_a_comment_line_and_a_blank_line() -> None:
    assert wire.PING_COMMENT == b":\r\n\r\n"


@pytest.mark.parametrize(
    ("retry", "expected"),
    [(5, b"retry: 5000\r\n\r\n"), (0.0015, b"retry: 1\r\n\r\n"), (0, b"retry: 0\r\n\r\n"), (None, b"")],
)
def test_retry_is_written_in_whole_milliseconds(retry: float | None, expected: bytes) -> None:
    assert wire.retry_field(retry) == expected


@pytest.mark.parametrize("retry", [-1, float("inf"), float("nan")])
def test_bad_retry_is_refused(retry: float) -> None:
    with pytest.raises(ValueError):
        wire.retry_field(retry)


def test_response_head_has_faye_headers_then_custom_ones() -> None:
    head = wire.response_head({"Access-Control-Allow-Origin": "*"})
    assert head == (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/event-stream\r\n"
        b"Cache-Control: no-cache, no-store\r\n"
        b"Connection: close\r\n"
        b"Access-Control-Allow-Origin: *\r\n"
        b"\r\n"
    )


def test_custom_header_with_line_break_is_refused() -> None:
    with pytest.raises(ValueError):
        wire.response_head({"X-Evil": "a\r\nSet-Cookie: x"})


def test_wsgi_headers_leave_out_hop_by_hop_connection() -> None:
    assert wire.wsgi_headers([("X-A", "1")]) == [
        ("Content-Type", "text/event-stream"),
        ("Cache-Control", "no-cache, no-store"),
        ("X-A", "1"),
    ]


@pytest.mark.parametrize(
    "accept",
    [
        "text/event-stream",
        "text/html, text/event-stream",
        "text/event-stream;q=0.9",
        "TEXT/Event-Stream ; charset=utf-8",
    ],
)
def test_get_accepting_event_stream_is_an_event_source(accept: str) -> None:
    assert wire.is_event_source(make_request(Accept=accept))


@pytest.mark.parametrize(
    ("method", "accept"),
    [("POST", "text/event-stream"), ("GET", "text/html"), ("GET", None), ("GET", "text/event-streams")],
)
def test_other_requests_are_not_event_sources(method: str, accept: str | None) -> None:
    request = make_request(method=method) if accept is None else make_request(method=method, Accept=accept)
    assert not wire.is_event_source(request)


def test_url_uses_host_header_and_target() -> None:
    assert wire.request_url(make_request("/a?b=1", Host="example.com:8080")) == "http://example.com:8080/a?b=1"


def test_url_is_https_on_a_tls_socket() -> None:
    assert wire.request_url(make_request(Host="h"), secure=True) == "https://h/stream"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Https", "on"),
        ("X-Forwarded-Ssl", "on"),
        ("X-Forwarded-Scheme", "https"),
        ("X-Forwarded-Proto", "https"),
    ],
)
def test_url_is_https_behind_a_proxy_that_says_so(name: str, value: str) -> None:
    request = make_request(Host="h")
    request.headers.add(name, value)
    assert wire.request_url(request).startswith("https://")


def test_last_event_id_comes_from_the_header() -> None:
    request = make_request("/s?lastEventId=9")
    request.headers.add("Last-Event-ID", "41")
    assert wire.last_event_id(request) == "41"


def test_last_event_id_falls_back_to_the_query_parameter_polyfills_send() -> None:
    assert wire.last_event_id(make_request("/s?x=1&lastEventId=12%2F3")) == "12/3"


def test_last_event_id_is_empty_without_either() -> None:
    assert wire.last_event_id(make_request("/s")) == ""


def test_writer_reads_a_utf8_last_event_id_from_a_latin1_decoded_header() -> None:
    # http.server and WSGI (PEP 3333) hand header bytes over decoded as latin-1.
    raw = "\u65e5\u672c".encode().decode("latin-1")
    request = Request("GET", "/", Headers([("Last-Event-ID", raw)]))
    assert wire.last_event_id(request) == "\u65e5\u672c"


def test_writer_keeps_a_latin1_last_event_id_that_is_not_utf8() -> None:
    request = Request("GET", "/", Headers([("Last-Event-ID", "caf\xe9")]))
    assert wire.last_event_id(request) == "caf\xe9"


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


@pytest.mark.parametrize("headers", [None, {"X-Accel-Buffering": "no"}])
@pytest.mark.parametrize("retry", [None, 0, 1, 1.0, 2.5, 5.0])
def test_stream_start_is_the_head_then_the_retry_field(
        headers: dict[str, str] | None, retry: float | None) -> None:
    for _ in range(2):  # the second call may come from the cache: the same bytes
        assert wire.stream_start(headers, retry) == wire.response_head(headers) + wire.retry_field(retry)


@pytest.mark.parametrize("retry", [-1, float("nan"), float("inf")])
def test_stream_start_refuses_a_bad_retry_every_time(retry: float) -> None:
    for _ in range(2):
        with pytest.raises(ValueError):
            wire.stream_start(None, retry)
