"""Client URLs: checking WebSocket URLs, parsing proxy options, choosing a proxy from the environment.

Everything here is pure (no sockets): a bad URL is a ValueError before any I/O happens. The
environment rules follow curl and the Python standard library: ``https_proxy`` for wss,
``http_proxy`` for ws, both falling back to ``all_proxy``; lower case wins over upper case;
``no_proxy`` lists hosts, domain suffixes, IP networks, optional ports, or ``*``.

Proxy schemes: ``http`` and ``https`` (HTTP CONNECT, TLS to the proxy for https) and curl's SOCKS
schemes ``socks5``, ``socks5h``, ``socks4``, ``socks4a`` (net/socks.py). Any other scheme is a
ValueError, also from the environment: a proxy the user set is never silently bypassed.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Union
from urllib.parse import SplitResult, unquote, urlsplit

from ..driver.url import WebSocketURL
from .socks import SOCKS_DEFAULT_PORT, SOCKS_SCHEMES, SocksVersion

# RFC 9110 section 4.2: http proxies listen on port 80 and https ones on 443 unless told; SOCKS
# proxies on 1080 (RFC 1928 section 3).
DEFAULT_PORTS = {"http": 80, "https": 443, **{scheme: SOCKS_DEFAULT_PORT for scheme in SOCKS_SCHEMES}}
# The original accepted http: and https: proxy origins; an environment value without a scheme
# (``proxy.example:3128``) means http, as in curl.
PROXY_SCHEMES = frozenset({"http", "https"} | SOCKS_SCHEMES)
INVALID_PROXY = "{url} is not a valid proxy URL"


@dataclass(frozen=True)
class ProxyConfig:
    """A forward proxy: HTTP CONNECT, or SOCKS when ``socks`` is set.

    ``secure`` means TLS to the proxy itself (an ``https://`` proxy origin); ``tls`` configures
    that TLS connection (an ssl.SSLContext or the options dict of ``faye_websocket.net.tls``).
    """

    origin: str
    host: str
    port: int
    secure: bool = False
    username: str | None = None
    password: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    tls: Any = field(default=None, compare=False)
    socks: SocksVersion | None = None

    @property
    def scheme(self) -> str:
        """The proxy URL's scheme: "http", "https", "socks5", "socks5h", "socks4" or "socks4a"."""
        if self.socks is not None:
            return self.socks.value
        return "https" if self.secure else "http"


def redacted(url: str) -> str:
    """``url`` with the password of its userinfo replaced by ``***``, for messages and logs.

    Proxy URLs carry credentials, and these messages end up in logs and exceptions.
    """
    scheme, sep, rest = url.partition("://") if "://" in url else ("", "", url)
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, host = rest[:end].rpartition("@")  # the authority ends where urlsplit's does
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}{rest[end:]}"


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urlsplit checks the port lazily; ValueError when not a number
    except ValueError as exc:
        raise ValueError(f"{INVALID_PROXY.format(url=redacted(url))}: {exc}") from None
    return parts


def _host_and_port(parts: SplitResult, url: str, default_port: int) -> tuple[str, int]:
    host = parts.hostname
    if not host:
        raise ValueError(f"{INVALID_PROXY.format(url=redacted(url))}: no host")
    port = parts.port if parts.port is not None else default_port
    if not 0 < port < 65536:
        raise ValueError(f"{INVALID_PROXY.format(url=redacted(url))}: port out of range")
    return host, port


def _credentials(parts: SplitResult) -> tuple[str | None, str | None]:
    if parts.username is None and parts.password is None:
        return None, None
    return unquote(parts.username or ""), unquote(parts.password or "")


def parse_proxy(proxy: str | Mapping[str, Any]) -> ProxyConfig:
    """A ProxyConfig from a proxy URL or the original's ``{"origin", "headers", "tls"}`` dict.

    Raises ValueError for an unsupported scheme or a bad URL, TypeError for unknown dict keys.
    """
    if isinstance(proxy, str):
        return _parse_proxy_origin(proxy, (), None)
    unknown = set(proxy) - {"origin", "headers", "tls"}
    if unknown:
        raise TypeError(f"Unrecognized proxy option: {', '.join(sorted(unknown))}")
    if "origin" not in proxy:
        raise ValueError("proxy options need an 'origin', such as 'http://proxy.example:3128'")
    headers = proxy.get("headers") or {}
    pairs = tuple(headers.items()) if isinstance(headers, Mapping) else tuple(headers)
    return _parse_proxy_origin(
        str(proxy["origin"]), tuple((str(k), str(v)) for k, v in pairs), proxy.get("tls")
    )


def _parse_proxy_origin(origin: str, headers: tuple[tuple[str, str], ...], tls: Any) -> ProxyConfig:
    text = origin if "://" in origin else f"http://{origin}"
    parts = _split(text)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise ValueError(
            f"unsupported proxy {redacted(origin)!r}: use http://, https://, socks5://, socks5h://, "
            f"socks4:// or socks4a://"
        )
    socks = SocksVersion(scheme) if scheme in SOCKS_SCHEMES else None
    if socks is not None and (headers or tls is not None):
        raise ValueError(f"proxy {redacted(origin)!r}: headers and tls apply to http(s) proxies only")
    host, port = _host_and_port(parts, origin, DEFAULT_PORTS[scheme])
    username, password = _credentials(parts)
    return ProxyConfig(origin, host, port, scheme == "https", username, password, headers, tls, socks)


def _environ_value(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name.lower())
    # httpoxy (CVE-2016-5385): in a CGI request HTTP_PROXY comes from the client's Proxy
    # header, so the upper-case name is ignored there, as urllib.request does.
    if value is None and not (name == "http_proxy" and "REQUEST_METHOD" in environ):
        value = environ.get(name.upper())
    return value.strip() if value and value.strip() else None


# Every variable proxy_from_environment reads, as os.environ keeps them on POSIX (bytes keys).
_PROXY_VARIABLES = frozenset(
    spelling.encode("ascii")
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for spelling in (name, name.upper())
)


def _none_set(environ: Mapping[str, str]) -> bool:
    """True when ``environ`` (os.environ) sets none of the proxy variables, in one look.

    Most processes set none, and each miss of ``os.environ.get`` costs three Python calls and
    two KeyErrors (eight of them per connect). On POSIX os.environ keeps its bytes in a dict
    (``_data``, updated by every assignment), and one C-level test of its keys answers for all
    eight; elsewhere (or if that dict is not there) this says False and each is looked up.
    """
    data = getattr(environ, "_data", None) if os.name == "posix" else None
    return isinstance(data, dict) and data.keys().isdisjoint(_PROXY_VARIABLES)


def proxy_from_environment(
    target: WebSocketURL, environ: Mapping[str, str] | None = None
) -> ProxyConfig | None:
    """The proxy the environment asks for when connecting to ``target``, or None.

    ValueError, naming the variable, for a value that is not a usable proxy URL (a scheme we
    cannot speak, a malformed URL): ignoring it would bypass the proxy the user set.
    """
    env = os.environ if environ is None else environ
    if env is os.environ and _none_set(os.environ):
        return None
    no_proxy = _environ_value(env, "no_proxy")
    if no_proxy and bypasses_proxy(target.host, target.port, no_proxy):
        return None
    name = "https_proxy" if target.secure else "http_proxy"
    value = _environ_value(env, name)
    if value is None:
        name, value = "all_proxy", _environ_value(env, "all_proxy")
    if value is None:
        return None
    try:
        return parse_proxy(value)
    except ValueError as exc:
        raise ValueError(f"the {name} environment variable: {exc}") from None


def _host_matches(host: str, pattern: str) -> bool:
    if pattern == host:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.endswith("." + pattern.lstrip("."))
    try:
        return address in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


def _split_entry(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1]:8080 or [::1]
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:  # host:port; a bare IPv6 literal has several colons
        host, _, port = entry.partition(":")
    else:
        host, port = entry, ""
    # isascii: str.isdigit() is also true for "²", which int() refuses with a ValueError
    return host, int(port) if port.isascii() and port.isdigit() else None


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """True when ``no_proxy`` (comma or space separated) exempts ``host:port`` from proxying.

    Entries: ``*`` (everything), a host name (also matching its subdomains), ``.domain``, an IP
    address or CIDR network, each with an optional ``:port``. Matching ignores case.
    """
    host = host.lower().strip("[]")
    for raw in no_proxy.replace(",", " ").split():
        entry = raw.strip().lower()
        if entry == "*":
            return True
        pattern, entry_port = _split_entry(entry)
        if entry_port is not None and entry_port != port:
            continue
        pattern = pattern.strip("[]")
        if pattern and _host_matches(host, pattern.lstrip(".") if pattern.startswith(".") else pattern):
            return True
    return False


ProxyOption = Union[str, Mapping[str, Any], bool, None]


def resolve_proxy(proxy: ProxyOption, target: WebSocketURL, *, direct: bool = False) -> ProxyConfig | None:
    """The proxy to use for ``target``: the ``proxy=`` option, or the environment's choice.

    ``False`` or ``""`` means none; ``None`` or ``True`` asks the environment, unless ``direct``
    (the caller already holds a connected socket); a URL or a dict is parsed. TypeError for any
    other type, ValueError for a bad URL or an unsupported scheme: never a silent bypass.
    """
    if proxy is False or proxy == "":
        return None
    if proxy is None or proxy is True:
        return None if direct else proxy_from_environment(target)
    if isinstance(proxy, (str, Mapping)):
        return parse_proxy(proxy)
    raise TypeError(f"proxy must be a URL, a dict of options, False or None, not {type(proxy).__name__}")
