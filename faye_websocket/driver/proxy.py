"""The HTTP CONNECT handshake that opens a tunnel through a forward proxy, without I/O.

The I/O layer writes ``request()`` to the proxy and feeds the proxy's answer to
``receive_data`` until it returns True; then ``error`` says whether the tunnel is open, and
``leftover`` holds whatever came after the reply head (the start of the tunnelled stream).
The request follows the original (websocket-driver's proxy.js) with HTTP/1.1 and ``Host``
(websocket-client #677: some proxies refuse CONNECT without them).
"""

from __future__ import annotations

import base64
from typing import Iterable, Mapping

from ..errors import ProxyError
from .http import HeadBuffer, HeadError, Headers, parse_response, serialize_head, to_headers

# RFC 9110 section 9.3.6: any 2xx answer to CONNECT means the tunnel is established.
_SUCCESS = range(200, 300)
# 1xx but 101: informational, the final reply follows (a 101 cannot answer CONNECT: an error).
_INTERIM = frozenset(range(100, 200)) - {101}
CONNECT_FAILED = "Can't establish a connection to the server at {target}"  # the original's error text


def authority(host: str, port: int) -> str:
    """``host:port`` as a CONNECT target and Host value, IPv6 literals in brackets (RFC 3986 3.2.2)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def basic_credentials(username: str, password: str) -> str:
    """The value of a Basic ``Authorization`` / ``Proxy-Authorization`` field (RFC 7617 section 2)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class ProxyHandshake:
    """One CONNECT exchange with a forward proxy; used by the client's I/O layer on its thread.

    ``headers`` are added after the standard fields (the original's ``proxy.headers``); a
    header named like a standard one replaces it. Raises ValueError for a header that would
    break the request head.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        self.target = authority(target_host, target_port)
        self._fields = Headers([("Host", self.target)])
        if username is not None or password is not None:
            self._fields.add("Proxy-Authorization", basic_credentials(username or "", password or ""))
        for name, value in to_headers(headers):
            self._fields.set(name, value)
        self._buffer = HeadBuffer()
        self.status_code: int | None = None
        self.headers = Headers()
        self.leftover = b""
        self.error: ProxyError | None = None
        self.complete = False

    def request(self) -> bytes:
        """The CONNECT request head to write to the proxy."""
        return serialize_head(f"CONNECT {self.target} HTTP/1.1", self._fields)

    def receive_data(self, data: bytes) -> bool:
        """Feed bytes of the proxy's reply; True once the reply head is complete.

        A malformed or oversized reply sets ``error`` (a ProxyError with no status) and also
        returns True: the exchange is over either way. Data after completion is ignored.
        """
        if self.complete:
            return True
        try:
            while True:
                found = self._buffer.feed(data)
                if found is None:
                    return False
                head, self.leftover = found
                response = parse_response(head)
                if response.status not in _INTERIM:
                    break
                # RFC 9110 section 15.2: interim 1xx replies come before the final one; skip them.
                data, self.leftover = self.leftover, b""
        except HeadError as exc:
            self.complete = True
            self.error = ProxyError(f"Invalid response from the proxy: {exc}", None)
            return True
        self.complete = True
        self.status_code, self.headers = response.status, response.headers
        if response.status not in _SUCCESS:
            message = f"{CONNECT_FAILED.format(target=self.target)}: {response.status} {response.reason}"
            self.error = ProxyError(message.rstrip(), response.status, response.headers.to_dict())
        return True

    def receive_eof(self) -> None:
        """The proxy closed the connection before its reply head was complete."""
        if not self.complete:
            self.complete = True
            self.error = ProxyError(
                f"{CONNECT_FAILED.format(target=self.target)}: proxy closed the connection"
            )
