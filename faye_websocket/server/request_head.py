"""http.server's request parse for the common head, in a few C calls, with the same result.

``BaseHTTPRequestHandler.parse_request`` reads the header lines one ``readline`` at a time and
hands them to the ``email`` package's feed parser: about 250 Python calls for a WebSocket
upgrade's five fields, a third of the handler's work for a connection that only opens and
closes; the WebSocket then copies the fields into its own ``Headers`` (``request_from_handler``),
another 90. When the whole head has arrived in one read (``HeadGuard`` knows) and it is plain
(an ``HTTP/1.1`` or ``HTTP/1.0`` request line of three words; every field line ``token: value``
in printable ASCII ending with CRLF; fewer fields than http.client's limit; no ``Expect``),
``parse_common_request`` matches the field lines with one regular expression, builds the same
``HTTPMessage`` the feed parser would (a test compares them field by field) and the ``Request``
the WebSocket and the EventSource writer will ask for, and sets what ``parse_request`` sets. Any
other head goes through http.server's own parse, untouched.
"""

from __future__ import annotations

import http.client
import re
from http.server import BaseHTTPRequestHandler
from typing import Protocol

from ..driver.http import Headers, Request
from .takeover import remember_request

# The request lines whose version http.server accepts without more checks (RFC 9112 section 2.3).
COMMON_VERSIONS = frozenset({"HTTP/1.1", "HTTP/1.0"})
# http.client's limits on header lines (_MAXHEADERS counts the blank line too; _MAXLINE is per
# line): a head anywhere near them goes through http.server's parse, which answers 431.
MAX_COMMON_FIELDS = 99
MAX_COMMON_BLOCK = 65536
# A field line as the feed parser reads it without a defect: a token name, a colon, optional
# whitespace, then a value of printable ASCII and tabs (the feed parser keeps its trailing
# whitespace, and so does this), CRLF. Names are RFC 9110 tokens, as Headers.add requires.
# Each match starts at a line's start and ends with its line feed, so a head whose every line but
# the blank one matched has exactly one line feed more than it has matches (see _fields).
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_FIELD_RE = re.compile(f"^({_TOKEN}):[ \t]*([\x20-\x7e\t]*)\r\n", re.MULTILINE)


class HeadSource(Protocol):
    """What ``parse_common_request`` needs of a handler's ``rfile`` (``HeadGuard``)."""

    def buffered_head(self) -> bytes | None:
        """The rest of the current head, buffered whole (not read), or None."""

    def skip_head(self, count: int) -> None:
        """Read ``count`` bytes of the head that ``buffered_head`` showed."""


def parse_common_request(handler: BaseHTTPRequestHandler, source: HeadSource) -> bool:
    """Parse ``handler.raw_requestline`` and the head's field lines as ``parse_request`` would,
    when the head is a common one (see the module docstring); True once done. False, having
    read and set nothing, for any other head: the caller then runs http.server's own parse.

    On the handler's thread.
    """
    if handler.MessageClass is not http.client.HTTPMessage:
        return False  # a handler's own message class: the feed parser builds it
    raw: bytes = getattr(handler, "raw_requestline", b"")  # set by handle_one_request
    requestline = str(raw, "iso-8859-1").rstrip("\r\n")
    words = requestline.split()
    if len(words) != 3 or words[2] not in COMMON_VERSIONS:
        return False
    block = source.buffered_head()
    if block is None or len(block) > MAX_COMMON_BLOCK:
        return False
    pairs = _fields(block.decode("latin-1"))
    if pairs is None or len(pairs) > MAX_COMMON_FIELDS:
        return False
    headers = Headers.from_checked(pairs)
    if "expect" in headers:
        return False  # 100-continue: http.server's parse answers it
    source.skip_head(len(block))
    _set_parsed(handler, requestline, words, pairs, headers)
    return True


def _fields(text: str) -> list[tuple[str, str]] | None:
    """The (name, value) pairs of a head's field lines and blank line, in one scan; None unless
    every line but the last (blank) one is a plain field line."""
    pairs: list[tuple[str, str]] = _FIELD_RE.findall(text)
    # A line that is not a field (a stray CR or LF, a fold, a control character, a bad name)
    # leaves its line feed unmatched: one more than the blank line's.
    return pairs if text.count("\n") == len(pairs) + 1 else None


def _set_parsed(handler: BaseHTTPRequestHandler, requestline: str, words: list[str],
                pairs: list[tuple[str, str]], headers: Headers) -> None:
    """What ``BaseHTTPRequestHandler.parse_request`` sets for a valid request of three words."""
    command, path, version = words
    handler.requestline = requestline
    handler.request_version = version
    # close_connection: http.server's rule for the version, then for the Connection field
    keep = version == "HTTP/1.1" and handler.protocol_version >= "HTTP/1.1"
    if path.startswith("//"):  # gh-87389, as http.server does
        path = "/" + path.lstrip("/")
    handler.command, handler.path = command, path
    message = http.client.HTTPMessage()
    for name, value in pairs:
        message.set_raw(name, value)
    message.set_payload("")  # the feed parser's empty body
    handler.headers = message
    # message.get("Connection"): the first field's value (compat32 returns latin-1 text as is)
    values = headers.get_all("Connection")
    connection = values[0].lower() if values else ""
    if connection == "close":
        keep = False
    elif connection == "keep-alive" and handler.protocol_version >= "HTTP/1.1":
        keep = True
    handler.close_connection = not keep
    remember_request(handler, Request(command, path, headers, version))
