"""Sec-WebSocket-Extensions parsing and serializing (faye_websocket.extensions.header)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faye_websocket.errors import ProtocolError
from faye_websocket.extensions.header import (
    INVALID_HEADER,
    MAX_HEADER_LENGTH,
    TOKEN_CHARS,
    ExtensionHeaderError,
    ExtensionOffer,
    parse_header,
    serialize_header,
    serialize_params,
)


def test_absent_or_blank_header_has_no_offers() -> None:
    assert parse_header(None) == []
    assert parse_header("") == []
    assert parse_header("  \t ") == []


def test_bare_extension_name_has_no_params() -> None:
    assert parse_header("permessage-deflate") == [ExtensionOffer("permessage-deflate", {})]


def test_bare_param_is_true_and_numbers_are_ints() -> None:
    offers = parse_header("permessage-deflate; client_max_window_bits; server_max_window_bits=10")
    assert offers == [
        ExtensionOffer("permessage-deflate", {"client_max_window_bits": True, "server_max_window_bits": 10})
    ]
    assert type(offers[0].params["server_max_window_bits"]) is int


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("0", 0),
        ("-3", -3),
        ("15", 15),
        ("08", "08"),  # a leading zero is not a number (the original's rule)
        ("1.5", "1.5"),  # fractions stay strings: no RFC 7692 parameter has one
        ("-", "-"),
        ("abc", "abc"),
    ],
)
def test_token_values_are_typed_like_the_original(raw: str, value: object) -> None:
    assert parse_header(f"x; a={raw}")[0].params == {"a": value}


def test_quoted_values_are_unescaped_and_numbers_inside_quotes_become_ints() -> None:
    offers = parse_header(r'x; a="10"; b="hello, world; \"quoted\" \\ back"; c=""')
    assert offers[0].params == {"a": 10, "b": 'hello, world; "quoted" \\ back', "c": ""}


def test_repeated_params_become_lists_in_order() -> None:
    assert parse_header("x; a=1; b; a=two; a")[0].params == {"a": [1, "two", True], "b": True}


def test_several_offers_keep_their_order_and_may_repeat_a_name() -> None:
    header = "permessage-deflate; client_max_window_bits=10, permessage-deflate, x-webkit-deflate-frame"
    assert [offer.name for offer in parse_header(header)] == [
        "permessage-deflate",
        "permessage-deflate",
        "x-webkit-deflate-frame",
    ]


def test_optional_whitespace_is_allowed_around_separators() -> None:
    header = " \ta \t;\t b \t=\t 1 \t, \t c ;d= \"q\"\t "
    assert parse_header(header) == [ExtensionOffer("a", {"b": 1}), ExtensionOffer("c", {"d": "q"})]


def test_empty_list_elements_are_ignored() -> None:
    assert [offer.name for offer in parse_header(", a ,, b ,")] == ["a", "b"]


@pytest.mark.parametrize(
    "header",
    [
        ";",
        "a;",
        "a; ;b",
        "a; b=",
        "a; =1",
        "a b",
        "a; b c",
        "a; b=1 2",
        'a; b="unterminated',
        'a; b="bad \\',
        'a; b="tab\x01"',
        'a; b="x"y',
        "a; b=@",
        "a=1",
        "\u00e9",
        'a; b="caf\u00e9"',
        "a;\r\nb",
    ],
)
def test_malformed_headers_raise_the_original_message(header: str) -> None:
    with pytest.raises(ExtensionHeaderError) as info:
        parse_header(header)
    assert str(info.value) == INVALID_HEADER + header
    assert isinstance(info.value, ProtocolError)


def test_long_malformed_header_is_echoed_truncated() -> None:
    header = "a" * 1000 + " b"
    with pytest.raises(ExtensionHeaderError) as info:
        parse_header(header)
    assert len(str(info.value)) < 300


def test_header_over_the_cap_raises_a_clear_error() -> None:
    with pytest.raises(ExtensionHeaderError, match="longer than 8192"):
        parse_header("a" * (MAX_HEADER_LENGTH + 1))
    assert parse_header("a" * MAX_HEADER_LENGTH)[0].name == "a" * MAX_HEADER_LENGTH


@pytest.mark.parametrize(
    "header",
    [
        # the shapes that made websocket-extensions' regular expressions backtrack (CVE-2020-7662)
        "a" + ";b" * 4000 + " =",
        "a" + ", a" * 2700 + ",=",
        'a; b="' + "\\a" * 4000,
        "a" + " " * 8000 + "!",
        "a;" + "\t" * 8100 + "=",
    ],
)
def test_pathological_8k_headers_parse_or_fail_cleanly(header: str) -> None:
    assert len(header) <= MAX_HEADER_LENGTH
    try:
        parse_header(header)
    except ExtensionHeaderError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_random_text_either_parses_or_raises_only_the_header_error(header: str) -> None:
    try:
        parse_header(header)
    except ExtensionHeaderError:
        pass


_token = st.text(alphabet=sorted(TOKEN_CHARS), min_size=1, max_size=12)
_value = st.one_of(
    st.just(True),
    st.integers(min_value=0, max_value=10**6),
    _token,
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_token, st.dictionaries(_token, _value, max_size=4)), min_size=1, max_size=4))
def test_serialize_then_parse_round_trips(offers: list[tuple[str, dict[str, object]]]) -> None:
    header = serialize_header(offers)  # type: ignore[arg-type]
    parsed = parse_header(header)
    assert [offer.name for offer in parsed] == [name for name, _ in offers]
    for (_, params), offer in zip(offers, parsed, strict=True):
        assert set(offer.params) == set(params)
        for key, value in params.items():
            # a str that reads as a decimal integer comes back as an int, as in the original
            expected = value
            if isinstance(value, str) and re.fullmatch(r"-?(0|[1-9][0-9]*)", value):
                expected = int(value)
            assert offer.params[key] == expected


def test_serializing_quotes_values_that_are_not_tokens() -> None:
    assert serialize_params("x", {"a": "b c", "d": 'q"\\', "e": "tok", "f": ""}) == (
        'x; a="b c"; d="q\\"\\\\"; e=tok; f=""'
    )


def test_serializing_flags_numbers_and_lists() -> None:
    params = {"flag": True, "off": False, "n": 10, "many": [1, True, "two"]}
    assert serialize_params("x", params) == "x; flag; n=10; many=1; many; many=two"  # type: ignore[arg-type]


def test_default_deflate_offer_serializes_exactly() -> None:
    assert serialize_params("permessage-deflate", {"client_max_window_bits": True}) == (
        "permessage-deflate; client_max_window_bits"
    )


@pytest.mark.parametrize(
    ("name", "params", "error"),
    [
        ("bad name", {}, ValueError),
        ("", {}, ValueError),
        ("x", {"bad key": True}, ValueError),
        ("x", {"a": "new\nline"}, ValueError),
        ("x", {"a": "caf\u00e9"}, ValueError),
        ("x", {"a": 1.5}, TypeError),
        ("x", {"a": None}, TypeError),
    ],
)
def test_serializing_refuses_what_the_grammar_cannot_carry(
    name: str, params: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        serialize_params(name, params)  # type: ignore[arg-type]
