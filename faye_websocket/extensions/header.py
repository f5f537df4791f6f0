"""The ``Sec-WebSocket-Extensions`` header: a linear-time parser and a serializer.

Grammar (RFC 6455 section 9.1, with RFC 7230 sections 3.2.3, 3.2.6 and 7 for whitespace, quoted
strings and list elements)::

    extension-list  = 1#extension
    extension       = token *( OWS ";" OWS extension-param )
    extension-param = token [ OWS "=" OWS ( token / quoted-string ) ]

The parser is hand-written and reads every character at most once: websocket-extensions' regular
expressions backtracked exponentially on crafted headers (CVE-2020-7662). Values are typed as the
original typed them: a bare parameter is ``True``, a decimal integer (also inside quotes) an
``int``, anything else a ``str``, and a repeated parameter a list of its values in order.
"""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple

from ..errors import ProtocolError
from .base import Params, ParamValue

MAX_HEADER_LENGTH = 8192  # our cap (8 KiB), far above any real offer; bounds parse time and memory
INVALID_HEADER = "Invalid Sec-WebSocket-Extensions header: "  # websocket-extensions' message
HEADER_TOO_LONG = "Sec-WebSocket-Extensions header is longer than {limit} characters: {length}"
_ECHO_LIMIT = 200  # how much of a bad header an error message repeats

# RFC 7230 section 3.2.6: tchar
TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# The same set as a pattern: a scan in C (names are checked on every handshake).
_TOKEN_RE = re.compile("[" + re.escape("".join(sorted(TOKEN_CHARS))) + "]+")
_OWS = frozenset(" \t")  # RFC 7230 section 3.2.3
# RFC 7230 section 3.2.6: qdtext and the characters a quoted-pair may escape (obs-text refused)
_QDTEXT = frozenset(["\t", " ", "!"] + [chr(c) for c in range(0x23, 0x7F) if c != 0x5C])
_ESCAPABLE = frozenset(["\t"] + [chr(c) for c in range(0x20, 0x7F)])
_DIGITS = frozenset("0123456789")


class ExtensionHeaderError(ProtocolError):
    """A ``Sec-WebSocket-Extensions`` value that breaks the grammar or exceeds the size cap.

    A server answers it with 400; a client fails the handshake (as ``ExtensionError``).
    """


class ExtensionOffer(NamedTuple):
    """One element of the header: an extension name and its parameters."""

    name: str
    params: Params


def parse_header(value: str | None) -> list[ExtensionOffer]:
    """Parse a ``Sec-WebSocket-Extensions`` value into its elements, in order.

    ``None`` or a blank value gives ``[]``; empty list elements (``a, , b``) are skipped as RFC
    7230 section 7 asks. Runs in time linear in ``len(value)``.

    Raises ExtensionHeaderError for a value over MAX_HEADER_LENGTH characters or one that does not
    follow the grammar.
    """
    if value is None:
        return []
    if len(value) > MAX_HEADER_LENGTH:
        raise ExtensionHeaderError(HEADER_TOO_LONG.format(limit=MAX_HEADER_LENGTH, length=len(value)))
    return _Parser(value).extension_list()


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 7230 token."""
    return _TOKEN_RE.fullmatch(text) is not None


def serialize_params(name: str, params: Params) -> str:
    """Serialize one element as ``name; flag; key=value``, in the order of ``params``.

    ``True`` gives a bare flag, ``False`` is left out, an int is written in decimal, a str that is
    not a token is quoted (escaping ``"`` and ``\\``), and a list repeats the parameter.

    Raises ValueError for a name or key that is not a token or a str that cannot be quoted
    (control or non-ASCII characters), TypeError for a value of another type.
    """
    _check_token(name, "extension name")
    parts = [name]
    for key, value in params.items():
        _check_token(key, "parameter name")
        values = value if isinstance(value, list) else [value]
        parts.extend(piece for piece in (_serialize_param(key, item) for item in values) if piece)
    return "; ".join(parts)


def serialize_header(offers: Iterable[tuple[str, Params]]) -> str:
    """Serialize several elements, comma-separated; see serialize_params for the rules."""
    return ", ".join(serialize_params(name, params) for name, params in offers)


def _check_token(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    if not is_token(text):
        raise ValueError(f"{what} is not an RFC 7230 token: {text!r}")


def _serialize_param(key: str, value: ParamValue) -> str:
    if value is True:
        return key
    if value is False:
        return ""
    if isinstance(value, int):
        return f"{key}={value}"
    if not isinstance(value, str):
        raise TypeError(f"parameter {key!r} has a value of unsupported type {type(value).__name__}")
    if is_token(value):
        return f"{key}={value}"
    if not all(char in _ESCAPABLE for char in value):
        raise ValueError(f"parameter {key!r} has a value that cannot be quoted: {value!r}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{key}="{escaped}"'


def _typed(text: str) -> int | str:
    """An integer for ``-?(0|[1-9][0-9]*)`` (the original's number rule without fractions)."""
    digits = text[1:] if text.startswith("-") else text
    if digits and all(char in _DIGITS for char in digits) and (digits == "0" or digits[0] != "0"):
        return int(text)
    return text


def _add_param(params: Params, key: str, value: ParamValue) -> None:
    if key not in params:
        params[key] = value
        return
    existing = params[key]
    if isinstance(existing, list):
        existing.append(value)  # type: ignore[arg-type]  # values are never lists here
    else:
        params[key] = [existing, value]  # type: ignore[list-item]


class _Parser:
    """A cursor over one header value; every method advances or raises, so parsing is linear."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self) -> ExtensionHeaderError:
        shown = self.text if len(self.text) <= _ECHO_LIMIT else self.text[:_ECHO_LIMIT] + "..."
        return ExtensionHeaderError(INVALID_HEADER + shown)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ows(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _OWS:
            self.pos += 1

    def token(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in TOKEN_CHARS:
            self.pos += 1
        if self.pos == start:
            raise self.error()
        return self.text[start : self.pos]

    def quoted_string(self) -> str:
        self.pos += 1  # the opening quote
        chars: list[str] = []
        while True:
            char = self.peek()
            if char == '"':
                self.pos += 1
                return "".join(chars)
            if char == "\\":
                self.pos += 1
                char = self.peek()
                if char not in _ESCAPABLE or not char:
                    raise self.error()
            elif char not in _QDTEXT or not char:
                raise self.error()
            chars.append(char)
            self.pos += 1

    def extension_list(self) -> list[ExtensionOffer]:
        offers: list[ExtensionOffer] = []
        while True:
            self.skip_ows()
            if self.pos == len(self.text):
                return offers
            if self.peek() == ",":
                self.pos += 1
                continue
            offers.append(self.extension())
            self.skip_ows()
            if self.pos < len(self.text) and self.peek() != ",":
                raise self.error()

    def extension(self) -> ExtensionOffer:
        name = self.token()
        params: Params = {}
        self.skip_ows()
        while self.peek() == ";":
            self.pos += 1
            self.skip_ows()
            key = self.token()
            self.skip_ows()
            value: ParamValue = True
            if self.peek() == "=":
                self.pos += 1
                self.skip_ows()
                value = _typed(self.quoted_string() if self.peek() == '"' else self.token())
                self.skip_ows()
            _add_param(params, key, value)
        return ExtensionOffer(name, params)
