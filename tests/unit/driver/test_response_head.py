"""Response heads: the one-scan parse of a common head gives what the line-by-line parse gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faye_websocket.driver.http import (
    MAX_HEADER_COUNT,
    HeadError,
    Response,
    _parse_any_response,
    _parse_common_response,
    parse_response,
)

# Pieces a head is built from, common and not: blanks, tabs, CR, LF, NUL, latin-1, colons.
NAME = st.text(alphabet="abcXYZ-_!#09: \t\x00\xe9", min_size=0, max_size=8)
VALUE = st.text(alphabet="ab ZY\t,;=:/+\r\n\x00\x7f\xe9", min_size=0, max_size=12)
STATUS = st.sampled_from(["HTTP/1.1 101 Switching Protocols", "HTTP/1.1 101", "HTTP/1.1 101 ",
                          "HTTP/1.0 200 OK", "HTTP/1.1 1010 x", "HTTP/1.1 10 x", "HTTP/1.1  101",
                          "HTTX/1.1 101 x", "HTTP/1.1 101 \xe9t\xe9", "HTTP/1.1 101 a\tb  ",
                          "HTTP/2 101 x\r", "http/1.1 101 x"])
ENDING = st.sampled_from(["\r\n", "\n", "\r\r\n", "\n "])
ANY_FIELD = st.tuples(NAME, VALUE, ENDING)
# Mostly common lines, so that many heads take the common parse and are compared.
COMMON_FIELD = st.tuples(st.text(alphabet="abcXYZ-_!#09", min_size=1, max_size=8),
                         st.text(alphabet="ab ZY\t,;=:/+", max_size=12), st.just("\r\n"))
FIELD = st.one_of(COMMON_FIELD, COMMON_FIELD, COMMON_FIELD, ANY_FIELD)


def _outcome(parse: object, head: bytes) -> tuple[int, str, list[tuple[str, str]], str] | str:
    try:
        response = parse(head)  # type: ignore[operator]
    except HeadError as error:
        return f"HeadError {error.status}"
    assert isinstance(response, Response)
    return response.status, response.reason, list(response.headers), response.version


@settings(max_examples=600, deadline=None)
@given(STATUS, st.lists(FIELD, max_size=6))
def test_the_common_parse_agrees_with_the_general_one(
    status: str, fields: list[tuple[str, str, str]]
) -> None:
    text = status + "".join(f"\r\n{name}:{value}" if ending == "\r\n" else f"{ending}{name}:{value}"
                            for name, value, ending in fields)
    head = text.encode("latin-1")
    common = _parse_common_response(text + "\r\n")
    if common is not None:  # a head it takes: the same response, field by field
        assert _outcome(lambda _: common, head) == _outcome(_parse_any_response, head)
    assert _outcome(parse_response, head) == _outcome(_parse_any_response, head)


def test_a_plain_101_takes_the_common_parse() -> None:
    text = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection:  Upgrade \r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Empty:\r\nX-Words: a \t b")
    response = _parse_common_response(text + "\r\n")
    assert response is not None
    assert (response.status, response.reason, response.version) == (101, "Switching Protocols", "HTTP/1.1")
    assert list(response.headers) == [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                      ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                                      ("X-Empty", ""), ("X-Words", "a \t b")]


@pytest.mark.parametrize("head", [
    "HTTP/1.1 101 X\r\nA: b\r\n c",  # obs-fold: joined by the general parse
    "HTTP/1.1 101 X\nA: b",  # bare LF
    "HTTP/1.1 101 X\r\nA: caf\xe9",  # latin-1 value
    "HTTP/1.1 101 X\r\nA b: c",  # not a token: refused by the general parse
])
def test_an_uncommon_head_takes_the_general_parse(head: str) -> None:
    assert _parse_common_response(head + "\r\n") is None


def test_too_many_fields_are_refused_by_either_parse() -> None:
    head = ("HTTP/1.1 101 X" + "\r\nA: b" * (MAX_HEADER_COUNT + 1)).encode()
    with pytest.raises(HeadError):
        parse_response(head)


def test_a_long_run_of_blanks_in_a_value_is_parsed_in_linear_time() -> None:
    # No backtracking blow-up: a server controls these bytes.
    # (A control character other than CR, LF and NUL is a value the general parse accepts.)
    value = "b" + " \t" * 8000 + "\x01"
    assert _parse_common_response(f"HTTP/1.1 101 X\r\nA: {value}\r\n") is None
    assert parse_response(f"HTTP/1.1 101 X\r\nA: {value}".encode()).headers.get("A") == value
