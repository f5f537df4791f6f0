"""WebSocket URLs (RFC 6455 section 3): scheme, host, port, resource name, credentials."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

DEFAULT_PORTS = {"ws": 80, "wss": 443}
PARSED_URL_CACHE_SIZE = 256  # distinct URLs whose parse is kept
FIRST_PRINTABLE = 0x20
DELETE = 0x7F
SCHEME_ALIASES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
# Whitespace (str.isspace's set: re's \s on str patterns is the same Unicode test) and the C0
# controls and DEL: one scan in C instead of a Python loop over the URL's characters.
_UNSAFE_RE = re.compile(f"[\\s\\x00-\\x{FIRST_PRINTABLE - 1:02x}\\x{DELETE:02x}]")


@dataclass(frozen=True)
class WebSocketURL:
    """A parsed ws:// or wss:// URL."""

    secure: bool
    host: str  # without brackets for IPv6
    port: int
    resource: str  # path and query, as sent in the request line
    username: str | None = None
    password: str | None = None
    explicit_port: bool = False  # the URL names a port that is not the scheme's default

    @property
    def host_header(self) -> str:
        """The Host header value: host, bracketed if IPv6, with the port unless it is the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.explicit_port else host

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` without path or credentials."""
        return f"{'wss' if self.secure else 'ws'}://{self.host_header}"


def parse_url(url: str) -> WebSocketURL:
    """Parse ``url``; ValueError before any I/O if it is not a usable WebSocket URL.

    http and https are accepted as aliases of ws and wss; a fragment is refused (RFC 6455
    section 3: "Fragment identifiers are meaningless in the context of WebSocket URIs").
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be str, not {type(url).__name__}")
    return _parse(url)


@functools.lru_cache(maxsize=PARSED_URL_CACHE_SIZE)
def _parse(url: str) -> WebSocketURL:
    """parse_url's work, cached (a ValueError is not: it is raised again each time). A client
    connecting again and again asks about the same few URLs, and a parse costs about 50 Python
    calls (urlsplit and its properties); the result is frozen, so sharing it is safe."""
    if _UNSAFE_RE.search(url):
        # They would end up in the request line and split or corrupt it.
        raise ValueError(f"{url!r} is not a valid WebSocket URL: whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"{url} is not a valid WebSocket URL: {error}") from None
    scheme = SCHEME_ALIASES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ValueError(f"{url} is not a valid WebSocket URL")
    if port == 0:
        raise ValueError(f"{url} is not a valid WebSocket URL: port out of range")
    if parts.fragment or url.endswith("#"):
        raise ValueError(f"{url} is not a valid WebSocket URL: fragments are not allowed")
    # The query is sent as given, even an empty one ("ws://h/?" asks for "/?").
    has_query = bool(parts.query) or "?" in url.partition("#")[0]
    resource = _ascii_resource((parts.path or "/") + (f"?{parts.query}" if has_query else ""))
    return WebSocketURL(
        secure=scheme == "wss",
        host=_ascii_host(parts.hostname, url),
        port=port if port is not None else DEFAULT_PORTS[scheme],
        resource=resource,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        # RFC 6455 section 4.1 item 4: the port goes in Host only "when not using the default
        # port"; ws://h:80 asks for "Host: h", as browsers (WHATWG URL) send it.
        explicit_port=port is not None and port != DEFAULT_PORTS[scheme],
    )


def _ascii_host(host: str, url: str) -> str:
    """An internationalised host name as its IDNA A-label form (what DNS and Host carry)."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise ValueError(f"{url} is not a valid WebSocket URL: host name: {error}") from None


def _ascii_resource(resource: str) -> str:
    """Path and query with non-ASCII characters percent-encoded as UTF-8 (RFC 3987 section 3.1).

    RFC 6455 section 3 makes a ws URI an RFC 3986 URI; an IRI's other characters, and escapes
    already present, are kept as written.
    """
    if resource.isascii():
        return resource
    return "".join(char if char.isascii() else quote(char, safe="") for char in resource)
