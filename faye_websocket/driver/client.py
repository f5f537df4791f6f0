"""The client side of the opening handshake (RFC 6455 section 4.1) on top of the Hybi driver.

The response head is read up to its blank line and no further: bytes after it (a frame the
server sent right behind its 101) go straight to the frame parser (faye-websocket-node #73).
"""

from __future__ import annotations

import base64
import platform
from typing import Iterable, Mapping, Sequence

from ..errors import ExtensionError, HandshakeError, ProtocolError
from ..events import ErrorEvent, ReadyState
from ..extensions.base import Extension
from ..extensions.negotiation import Extensions
from ..version import __version__
from .base import DEFAULT_MAX_LENGTH, Parser
from .handshake import accept_value, generate_key, protocol_list
from .http import (
    MAX_HEAD_SIZE,
    SWITCHING_PROTOCOLS,
    Headers,
    Response,
    check_header,
    is_interim,
    parse_response,
    serialize_head,
    to_headers,
    with_user_fields,
)
from .hybi import Hybi
from .url import WebSocketURL, parse_url

DEFAULT_USER_AGENT = f"faye_websocket/{__version__} Python/{platform.python_version()}"
HANDSHAKE_FAILED = "Error during WebSocket handshake: "
check_header("User-Agent", DEFAULT_USER_AGENT)  # once, at import, rather than for every client


class ClientDriver(Hybi):
    """A hybi-13 client: writes the request on ``start()``, validates the 101, then frames.

    ``status_code`` and ``headers`` hold the handshake response once it arrived, also when the
    handshake failed; ``handshake_error`` says why it failed.
    """

    _extensions: Extensions  # the registry this driver made: it also offers and activates

    def __init__(
        self,
        url: str,
        protocols: str | Sequence[str] | None = None,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        extensions: Iterable[Extension] = (),
        max_length: int = DEFAULT_MAX_LENGTH,
        origin: str | None = None,
        user_agent: str | None = DEFAULT_USER_AGENT,
        target: WebSocketURL | None = None,
    ) -> None:
        self.url = url
        # The I/O layer checks the URL before any I/O and passes the parsed form on: parsed once.
        self.target: WebSocketURL = target if target is not None else parse_url(url)
        registry = Extensions()
        for extension in extensions:
            registry.add(extension)
        super().__init__(registry, mask_outgoing=True, max_length=max_length, version="hybi-13")
        self._protocols = protocol_list(protocols)
        if origin is not None:
            check_header("Origin", origin)  # a ValueError now, not when start() writes the head
        if user_agent and user_agent != DEFAULT_USER_AGENT:  # the default is checked below, once
            check_header("User-Agent", user_agent)
        self._key = generate_key()
        # Every field of the request but the extension offer, known now. (Made here rather than in
        # start(), it also keeps this driver at 30 attributes, where CPython stores them inline.)
        self._fields = self._request_fields(to_headers(headers) if headers is not None else None,
                                            origin, user_agent)
        self._started = False
        self.status_code: int | None = None
        self.headers = Headers()
        self.handshake_error: HandshakeError | None = None
        self.request_sent = b""  # the request head as written (the I/O layer's debug log shows it)

    def _request_fields(
        self, extra: Headers | None, origin: str | None, user_agent: str | None
    ) -> list[tuple[str, str]]:
        """Host, Upgrade, Connection, key, version, then the subprotocols, credentials, Origin,
        User-Agent and the user's headers (one named like a standard field takes its place)."""
        target = self.target
        fields = [("Host", target.host_header), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                  ("Sec-WebSocket-Key", self._key), ("Sec-WebSocket-Version", "13")]
        if self._protocols:
            fields.append(("Sec-WebSocket-Protocol", ", ".join(self._protocols)))
        if target.username is not None:
            credentials = f"{target.username}:{target.password or ''}".encode()
            fields.append(("Authorization", "Basic " + base64.b64encode(credentials).decode("ascii")))
        if origin is not None:
            fields.append(("Origin", origin))
        if user_agent and (extra is None or "User-Agent" not in extra):
            fields.append(("User-Agent", user_agent))
        if extra:
            fields = with_user_fields(fields, extra)
        return fields

    def request_head(self) -> bytes:
        """The handshake request: request line, then Host, Upgrade, Connection, key, version, ...

        The fields are written as pairs: each value is safe by construction (the URL was
        checked by ``parse_url``, the key is base64, credentials are base64, the subprotocols,
        Origin, User-Agent and the user's headers were checked when this driver was made);
        only an extension's offer, made by code that may be the user's, is checked here.
        """
        fields = self._fields
        offer = self._extensions.generate_offer()
        if offer:
            check_header("Sec-WebSocket-Extensions", offer)
            fields = [*fields, ("Sec-WebSocket-Extensions", offer)]
        return serialize_head(f"GET {self.target.resource} HTTP/1.1", fields)

    def start(self) -> None:
        """Queue the request head (once); an extension failing to make its offer fails the
        connection (error and close events, 1010) without writing anything.
        """
        if not self._started and self.state is ReadyState.CONNECTING:
            self._started = True
            try:
                head = self.request_head()
            except ExtensionError as error:
                self._fail(error)
                return
            self.request_sent = head
            self._write(head)

    def _parse(self) -> Parser:
        head = yield from self._reader.read_head(MAX_HEAD_SIZE)
        response = parse_response(head)
        while is_interim(response.status):
            # RFC 9110 section 15.2: a client parses any 1xx (100 Continue, a CDN's 103 Early
            # Hints) before the final response, expected or not; for an upgrade that is the 101.
            head = yield from self._reader.read_head(MAX_HEAD_SIZE)
            response = parse_response(head)
        self.status_code = response.status
        self.headers = response.headers
        self._validate(response)
        self._open()
        yield from self._frames()

    def _validate(self, response: Response) -> None:
        headers = response.headers
        if response.status != SWITCHING_PROTOCOLS:
            raise HandshakeError(f"Unexpected response code: {response.status}")
        # RFC 6455 section 4.1 items 2 and 3; the common value (one field, that one token) is
        # known without splitting it into tokens.
        upgrade = headers.get("Upgrade") or ""
        if upgrade.lower() != "websocket" and headers.tokens("Upgrade") != ["websocket"]:
            raise HandshakeError("'Upgrade' header value is not 'WebSocket'")
        if not headers.has_token("connection", "upgrade"):
            raise HandshakeError("'Connection' header value is not 'Upgrade'")
        if headers.get("Sec-WebSocket-Accept") != accept_value(self._key):
            raise HandshakeError("Sec-WebSocket-Accept mismatch")
        protocol = headers.get("Sec-WebSocket-Protocol")
        if protocol is not None and protocol not in self._protocols:
            raise HandshakeError("Sec-WebSocket-Protocol mismatch")
        self.protocol = protocol or ""
        self._extensions.activate(headers.get("Sec-WebSocket-Extensions"))

    def _fail(self, error: Exception) -> None:
        if self.state is not ReadyState.CONNECTING:
            super()._fail(error)
            return
        # A failed handshake: keep the response for status_code/headers and report the reason.
        message = HANDSHAKE_FAILED + str(error)
        self.handshake_error = HandshakeError(message, self.status_code, self.headers.to_dict())
        code = error.code if isinstance(error, (ExtensionError, ProtocolError)) else 1002
        self._emit(ErrorEvent(message, self.handshake_error))
        self._finish(code, message, clean=False)
