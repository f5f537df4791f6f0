"""HTTP/1.1 heads for the handshakes: Headers, parsing request and response heads, writing them.

Parsing is incremental and bounded: a head larger than ``MAX_HEAD_SIZE`` or with more than
``MAX_HEADER_COUNT`` fields is refused with the status an HTTP server would use (431), and any
syntax error with 400, instead of growing a buffer without end or crashing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from ..errors import HandshakeError

MAX_HEAD_SIZE = 16 * 1024  # like nginx's large_client_header_buffers; heads are small
MAX_HEADER_COUNT = 100  # http.client's _MAXHEADERS
CRLF = b"\r\n"
STATUS_BAD_REQUEST = 400
STATUS_REQUEST_TIMEOUT = 408  # RFC 9110 section 15.5.9
STATUS_HEADERS_TOO_LARGE = 431  # RFC 6585 section 5
STATUS_SERVICE_UNAVAILABLE = 503  # RFC 9110 section 15.6.4
_TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_FORBIDDEN_VALUE_CHARS = ("\r", "\n", "\0")
# The same two rules as regular expressions: a head has a dozen fields, each checked on every
# handshake, and a scan in C costs a fraction of a loop over characters in Python.
_TOKEN_PATTERN = "[" + re.escape(bytes(sorted(_TOKEN_CHARS)).decode("ascii")) + "]+"
_TOKEN_RE = re.compile(_TOKEN_PATTERN)
_FORBIDDEN_VALUE_RE = re.compile("[" + "".join(_FORBIDDEN_VALUE_CHARS) + "]")

REASONS = {
    101: "Switching Protocols",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


# Proxies and TLS terminators mark a secure original request with one of these
# (isSecureRequest in websocket-driver-node's lib/websocket/driver/server.js).
SECURE_FORWARDING: tuple[tuple[str, str], ...] = (
    ("https", "on"),
    ("x-forwarded-ssl", "on"),
    ("x-forwarded-scheme", "https"),
    ("x-forwarded-proto", "https"),
)

_SECURE_FORWARDING_NAMES = frozenset(name for name, _ in SECURE_FORWARDING)


class HeadError(HandshakeError):
    """A malformed or oversized HTTP head; ``status`` is the answer a server should give."""


class Headers:
    """An ordered, case-insensitive multi-map of header fields.

    ``headers["name"]`` gives the values of every field with that name joined with ", " (as the
    original did); ``get_all`` gives them separately. Names keep the case they were added with.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        # Each lower-cased name's values in order, for lookups: a handshake asks about 30 times.
        self._index: dict[str, list[str]] = {}
        for name, value in items:
            self.add(name, value)

    @classmethod
    def from_checked(cls, fields: list[tuple[str, str]]) -> Headers:
        """Headers holding ``fields`` (kept, not copied), whose names are known to be tokens and
        values printable ASCII: the checks ``add`` makes have been made (a request head matched
        field by field, see server/request_head.py)."""
        headers = cls.__new__(cls)
        headers._items = fields
        index: dict[str, list[str]] = {}
        for name, value in fields:
            lowered = name.lower()
            values = index.get(lowered)
            if values is None:
                index[lowered] = [value]
            else:
                values.append(value)
        headers._index = index
        return headers

    def add(self, name: str, value: str) -> None:
        """Append a field; raises ValueError if the name or value would break the head."""
        # check_header's rules, its common case (an ASCII value) without its calls: a request
        # head's fields are each added once per handshake.
        if not (_TOKEN_RE.fullmatch(name) and value.isascii()) or _FORBIDDEN_VALUE_RE.search(value):
            check_header(name, value)
        self._items.append((name, value))
        lowered = name.lower()
        values = self._index.get(lowered)
        if values is None:
            self._index[lowered] = [value]
        else:
            values.append(value)

    def set(self, name: str, value: str) -> None:
        """Replace every field called ``name`` with one field."""
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        """Drop every field called ``name``."""
        lowered = name.lower()
        self._items = [(n, v) for n, v in self._items if n.lower() != lowered]
        self._index.pop(lowered, None)

    def get(self, name: str, default: str | None = None) -> str | None:
        """All values of ``name`` joined with ", ", or ``default`` when there is none."""
        values = self._index.get(name.lower())
        if not values:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        """Every value of the fields called ``name``, in order."""
        return list(self._index.get(name.lower(), ()))

    def has_any(self, names: frozenset[str]) -> bool:
        """True when a field has one of ``names`` (lower-case): one test for several rare fields."""
        return not names.isdisjoint(self._index)

    def tokens(self, name: str) -> list[str]:
        """The comma-separated tokens of ``name``, lower-cased (``Connection: keep-alive, Upgrade``)."""
        values = self._index.get(name.lower())
        if not values:
            return []
        return [t.strip().lower() for v in values for t in v.split(",") if t.strip()]

    def has_token(self, name: str, token: str) -> bool:
        """``token in tokens(name)`` for a lower-case ``name`` and ``token``; a field holding just
        the token (``Connection: Upgrade``, as nearly every handshake sends it) is found without
        splitting."""
        values = self._index.get(name)
        if not values:
            return False
        if len(values) == 1 and values[0].lower() == token:
            return True
        return token in self.tokens(name)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def to_dict(self) -> dict[str, str]:
        """Lower-cased names to joined values, the shape of the original's ``headers`` property."""
        result: dict[str, str] = {}
        for name, _ in self._items:
            result.setdefault(name.lower(), self[name])
        return result

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def check_header(name: str, value: str) -> None:
    """Raise ValueError for a name that is not an HTTP token or a value with CR, LF or NUL.

    A value must also be latin-1 (RFC 9110 section 5.5: field values are octets, and heads are
    written as latin-1): anything beyond would fail only when the head is written.
    """
    if not _TOKEN_RE.fullmatch(name):
        raise ValueError(f"invalid header name: {name!r}")
    if _FORBIDDEN_VALUE_RE.search(value) or not _is_latin1(value):
        raise ValueError(f"invalid header value for {name}: {value!r}")


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def to_headers(values: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> Headers:
    """Build Headers from a mapping, a list of pairs, or None."""
    if values is None:
        return Headers()
    if isinstance(values, Headers):
        return Headers(values)
    if isinstance(values, Mapping):
        return Headers((str(k), str(v)) for k, v in values.items())
    return Headers((str(k), str(v)) for k, v in values)


@dataclass
class Request:
    """A parsed request head."""

    method: str
    target: str
    headers: Headers = field(default_factory=Headers)
    version: str = "HTTP/1.1"


@dataclass
class Response:
    """A parsed response head."""

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    version: str = "HTTP/1.1"


def find_head_end(buffer: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """Where the head in ``buffer`` ends: (end of the last header line, start of the body), or None.

    RFC 9112 section 2.2 lets a recipient accept a bare LF as a line terminator, so a blank line
    is either CRLF CRLF or LF LF, whichever comes first. ``start`` skips bytes already searched.
    """
    crlf = buffer.find(b"\r\n\r\n", start)
    lf = buffer.find(b"\n\n", start)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, lf + 2
    if crlf >= 0:
        return crlf, crlf + 4
    return None


class HeadBuffer:
    """Collects bytes until a blank line ends the head; returns the head and the bytes after it.

    Whatever follows the blank line is handed back untouched: it may be the first WebSocket frame,
    draft-76's 8 key bytes, or an event stream (faye-websocket-node #73).
    """

    def __init__(self, limit: int = MAX_HEAD_SIZE) -> None:
        self._buffer = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> tuple[bytes, bytes] | None:
        """Add ``data``; returns (head, rest) once the head is complete, else None."""
        start = max(0, len(self._buffer) - 3)
        self._buffer += data
        found = find_head_end(self._buffer, start)
        if found is None:
            if len(self._buffer) > self._limit:
                raise HeadError("HTTP head too large", STATUS_HEADERS_TOO_LARGE)
            return None
        head_end, body_start = found
        if head_end > self._limit:
            raise HeadError("HTTP head too large", STATUS_HEADERS_TOO_LARGE)
        head, rest = bytes(self._buffer[:head_end]), bytes(self._buffer[body_start:])
        self._buffer.clear()
        return head, rest


def _split_lines(head: bytes) -> list[str]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
        raise HeadError("HTTP head is not text", STATUS_BAD_REQUEST) from None
    return [line.rstrip("\r") for line in text.split("\n")]


def _unfold(lines: list[str]) -> list[str]:
    """Join obs-fold continuation lines to the field they continue, with one SP each.

    RFC 9112 section 5.2: a user agent MUST do this for a response; a continuation before any
    field is left for _parse_fields to refuse.
    """
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] = unfolded[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            unfolded.append(line)
    return unfolded


def _parse_fields(lines: list[str]) -> Headers:
    if len(lines) > MAX_HEADER_COUNT:
        raise HeadError("Too many HTTP header fields", STATUS_HEADERS_TOO_LARGE)
    headers = Headers()
    for line in lines:
        if line[:1] in (" ", "\t"):
            raise HeadError("Obsolete line folding in HTTP head", STATUS_BAD_REQUEST)
        name, sep, value = line.partition(":")
        try:
            headers.add(name, value.strip(" \t"))
        except ValueError:
            raise HeadError(f"Invalid HTTP header line: {line!r}", STATUS_BAD_REQUEST) from None
        if not sep:
            raise HeadError(f"Invalid HTTP header line: {line!r}", STATUS_BAD_REQUEST)
    return headers


def http_version(version: str) -> tuple[int, int] | None:
    """(major, minor) of ``HTTP/<digit>.<digit>`` (RFC 9112 section 2.3), or None if malformed."""
    name, _, number = version.partition("/")
    major, dot, minor = number.partition(".")
    if name != "HTTP" or not dot or len(major) != 1 or len(minor) != 1:
        return None
    if not (major.isascii() and major.isdigit() and minor.isascii() and minor.isdigit()):
        return None
    return int(major), int(minor)


def parse_request(head: bytes) -> Request:
    """Parse a request head (without its blank line); raises HeadError with status 400 or 431."""
    lines = _split_lines(head)
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1] or http_version(parts[2]) is None:
        raise HeadError(f"Invalid HTTP request line: {lines[0]!r}", STATUS_BAD_REQUEST)
    method, target, version = parts
    return Request(method, target, _parse_fields(lines[1:]), version)


# A response head as servers write it (see _parse_common_response): a status line of an HTTP/
# version, three digits and a printable reason, then field lines "token: value" of printable ASCII,
# every line ending in CRLF. The value's leading and trailing blanks stay outside its group, as
# _parse_fields strips them; its pattern (words of visible characters between runs of blanks)
# cannot backtrack more than linearly, whatever a server sends.
_COMMON_STATUS_RE = re.compile("(HTTP/[!-~]*) ([0-9]{3})(?: ([ -~\t]*))?\r\n")
_COMMON_FIELD_RE = re.compile(
    f"^({_TOKEN_PATTERN}):[ \t]*((?:[!-~]+(?:[ \t]+[!-~]+)*)?)[ \t]*\r\n", re.MULTILINE
)


def _parse_common_response(text: str) -> Response | None:
    """``text`` (a head and its last CRLF) parsed in two scans when every line is a common one
    (see _COMMON_FIELD_RE) and the fields are under MAX_HEADER_COUNT; None for any other head,
    which takes the line-by-line parse. Both give the same Response for the heads this takes."""
    status = _COMMON_STATUS_RE.match(text)
    if status is None:
        return None
    start = status.end()
    pairs: list[tuple[str, str]] = _COMMON_FIELD_RE.findall(text, start)
    # A line that is not a common field line (a fold, a bare LF or CR, a control character, a bad
    # name) leaves its line feed unmatched.
    if text.count("\n", start) != len(pairs) or len(pairs) > MAX_HEADER_COUNT:
        return None
    version, code, reason = status.groups()
    return Response(int(code), reason or "", Headers.from_checked(pairs), version)


def parse_response(head: bytes) -> Response:
    """Parse a response head (without its blank line); raises HeadError on a malformed head."""
    common = _parse_common_response(head.decode("latin-1") + "\r\n")
    return common if common is not None else _parse_any_response(head)


def _parse_any_response(head: bytes) -> Response:
    """parse_response for any head, line by line (obs-fold, bare LF, latin-1 values, errors)."""
    lines = _split_lines(head)
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    # isascii: str.isdigit() is also true for "²", which int() then refuses with a ValueError
    if not version.startswith("HTTP/") or len(code) != 3 or not (code.isascii() and code.isdigit()):
        raise HeadError(f"Invalid HTTP status line: {lines[0]!r}", None)
    return Response(int(code), reason, _parse_fields(_unfold(lines[1:])), version)


def serialize_head(start_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """Write a start line, header fields and the blank line with CRLF endings."""
    lines = [start_line, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def serialize_response(
    status: int, headers: Iterable[tuple[str, str]] = (), body: bytes = b"", reason: str | None = None
) -> bytes:
    """A complete HTTP/1.1 response; a body gets Content-Length (and the caller's Content-Type)."""
    fields = list(headers)
    if body or status >= STATUS_BAD_REQUEST:
        fields.append(("Content-Length", str(len(body))))
    phrase = reason if reason is not None else REASONS.get(status, "Unknown")
    return serialize_head(f"HTTP/1.1 {status} {phrase}", fields) + body


def error_response(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A plain-text error response that closes the connection, as the original's handshake failures."""
    fields = [("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close"), *headers]
    return serialize_response(status, fields, message.encode("utf-8"))


def is_secure_request(request: Request) -> bool:
    """True when a forwarding proxy says the original request came over TLS (the original's headers).

    Only the first token counts: behind several proxies it is the one the client connected to.
    """
    headers = request.headers
    if not headers.has_any(_SECURE_FORWARDING_NAMES):  # the common request: none of them
        return False
    for name, expected in SECURE_FORWARDING:
        values = headers.tokens(name)
        if values and values[0] == expected:
            return True
    return False


def request_url(request: Request, *, secure: bool, schemes: tuple[str, str]) -> str:
    """``<scheme>://<Host header><target>``: ``schemes`` is (plain, secure), e.g. ("ws", "wss").

    ``secure`` is whether the socket itself is TLS; forwarding headers can also make it secure.
    A request target in absolute-form (``GET http://host/path``) names the authority itself:
    RFC 9112 section 3.2.2 has the server use it and ignore Host.
    """
    scheme = schemes[1] if secure or is_secure_request(request) else schemes[0]
    authority, target = request.headers.get("Host", "") or "", request.target
    if not target.startswith("/") and "://" in target:
        try:
            parts = urlsplit(target)
        except ValueError:
            parts = None
        if parts is not None and parts.scheme and parts.netloc:
            authority = parts.netloc.rpartition("@")[2]  # never repeat credentials in the url
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{scheme}://{authority}{target}"


SWITCHING_PROTOCOLS = 101  # RFC 9110 section 15.2.2


def is_interim(status: int) -> bool:
    """1xx responses other than 101 come before the final response (RFC 9110 section 15.2)."""
    return 100 <= status < 200 and status != SWITCHING_PROTOCOLS


def with_user_fields(
    standard: Iterable[tuple[str, str]], user: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """``standard`` fields with the ``user``'s: a user field named like a standard one takes its
    place (Host for a virtual host reached by address), the others follow in order.

    Never two Host lines: RFC 9112 section 3.2 has servers answer those with 400 (nginx does).
    """
    fields = list(standard)
    names = {name.lower() for name, _ in fields}
    replaced: set[str] = set()
    for name, value in user:
        key = name.lower()
        if key in names and key not in replaced:
            replaced.add(key)
            index = next(i for i, (n, _) in enumerate(fields) if n.lower() == key)
            fields[index] = (name, value)
        else:
            fields.append((name, value))
    return fields
