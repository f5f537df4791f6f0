"""The server side of the opening handshake: read the request head, pick the protocol, answer.

``ServerDriver`` is what the I/O layer holds. Given no request it reads the HTTP head from the
bytes it is fed (the raw socketserver path); given a request already parsed by http.server it
starts at once. On ``start()`` it validates the request and delegates to a Hybi driver, or, when
``allow_drafts`` is set, to a draft-76 or draft-75 driver. A request that cannot be upgraded gets
a plain-text HTTP error and a close event, never an exception out of the I/O layer.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

from ..errors import ExtensionError, HandshakeError, ProtocolError
from ..events import CloseEvent, Event, ReadyState
from ..extensions.base import Extension
from ..extensions.negotiation import Extensions
from ..rfc6455 import CloseCode, check_ping_payload
from .base import DEFAULT_MAX_LENGTH, Driver, send_by_type, to_payload
from .draft75 import Draft75Server
from .draft76 import Draft76Server, draft76_key_number
from .handshake import accept_bytes, is_valid_key, protocol_list, select_protocol
from .http import (
    MAX_HEAD_SIZE,
    STATUS_BAD_REQUEST,
    HeadBuffer,
    HeadError,
    Request,
    check_header,
    error_response,
    http_version,
    is_secure_request,  # noqa: F401 - re-exported for the I/O layer
    parse_request,
    request_url,
    serialize_head,
    to_headers,
)
from .hybi import Hybi
from .shared_frames import SharedFraming

SUPPORTED_VERSIONS = ("13", "8", "7")  # hybi-13 is RFC 6455; 07 and 08 frame identically
COMMON_HTTP_VERSION = "HTTP/1.1"  # what nearly every handshake says; any other goes through http_version
STATUS_UPGRADE_REQUIRED = 426  # RFC 6455 section 4.4
STATUS_INTERNAL_ERROR = 500  # one of our own extensions failed: not the client's fault
CHECKED_EXTENSIONS_KEPT = 64  # sequences of extension objects remembered as checked (_check_extensions)
# The sequences checked, by the ids of their objects; the objects are kept, so no id is reused.
_checked: dict[tuple[int, ...], tuple[Extension, ...]] = {}
# Headers the handshake writes itself; a user's extra header of the same name is dropped.
_HANDSHAKE_HEADERS = frozenset(
    {"upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions"}
)
_STATUS_LINE_101 = "HTTP/1.1 101 Switching Protocols"  # RFC 6455 section 4.2.2, step 5.1
_UPGRADE_FIELDS = (("Upgrade", "websocket"), ("Connection", "Upgrade"))  # section 4.2.2, steps 5.2-5.3
# The 101 without a subprotocol, an extension or an extra field, as serialize_head writes it, with
# a placeholder for the accept value (base64: no "%" in it): most handshakes get this one.
_PLAIN_UPGRADE = serialize_head(_STATUS_LINE_101, [*_UPGRADE_FIELDS, ("Sec-WebSocket-Accept", "%s")])


def is_websocket_request(request: Request) -> bool:
    """True for a GET whose Connection tokens include "upgrade" and Upgrade is "websocket"."""
    return (
        request.method == "GET"
        and request.headers.has_token("connection", "upgrade")
        and request.headers.has_token("upgrade", "websocket")
    )


def websocket_url(request: Request, secure: bool) -> str:
    """``ws[s]://<Host header><target>``, the connection's ``url``."""
    return request_url(request, secure=secure, schemes=("ws", "wss"))


class HybiServer(Hybi):
    """The server side of RFC 6455 once the request has been validated."""

    def __init__(self, response: bytes, extensions: Extensions, *, max_length: int, version: str,
                 protocol: str) -> None:
        super().__init__(extensions, mask_outgoing=False, max_length=max_length, version=version)
        self._response = response
        self.protocol = protocol

    def start(self) -> None:
        """Write the 101 response and open."""
        if self.state is ReadyState.CONNECTING:
            self._write(self._response)
            self._open()
            # The parser starts at a frame boundary (see _parse): the first read may take the
            # fast lane (take_messages) before the parser's generator has ever run.
            self._at_boundary = True

    def _parse(self):  # type: ignore[no-untyped-def]
        while self.state is ReadyState.CONNECTING:
            yield
        yield from self._frames()


class _Options:
    """The server options, validated once."""

    def __init__(self, protocols: str | Sequence[str] | None, extensions: Iterable[Extension],
                 headers: Mapping[str, str] | Iterable[tuple[str, str]] | None, max_length: int,
                 allow_drafts: bool, secure: bool) -> None:
        self.protocols = protocol_list(protocols)
        self.extensions = list(extensions)
        self.headers = to_headers(headers)
        # The user's extra 101 fields, minus those the handshake writes itself: fixed per server.
        self.extra_fields = [] if headers is None else [
            (name, value) for name, value in self.headers if name.lower() not in _HANDSHAKE_HEADERS]
        self.max_length = max_length
        self.allow_drafts = allow_drafts
        self.secure = secure


def _hybi_driver(request: Request, options: _Options, url: str) -> Driver:
    headers = request.headers
    # RFC 6455 section 4.2.1: "An HTTP/1.1 or higher GET request" (item 1) with "A |Host|
    # header field" (item 2); anything else MUST get an error such as 400.
    version_number = (1, 1) if request.version == COMMON_HTTP_VERSION else http_version(request.version)
    if version_number is None or version_number < (1, 1):
        raise HandshakeError(f"WebSocket handshakes need HTTP/1.1 or later, not {request.version}",
                             STATUS_BAD_REQUEST)
    if not headers.get("Host"):
        raise HandshakeError("Missing required header: Host", STATUS_BAD_REQUEST)
    key, version = _checked_key_and_version(request)
    _check_upgrade(request)
    registry = Extensions()
    offer = headers.get("Sec-WebSocket-Extensions")
    accepted = None
    if offer is None:  # nothing to negotiate: no session, no answer; the extensions still checked
        _check_extensions(options.extensions)
    else:
        accepted = _negotiate(registry, options.extensions, offer)
    requested = headers.get("Sec-WebSocket-Protocol")
    protocol = ""
    if requested:
        offered = [p.strip() for p in requested.split(",") if p.strip()]
        protocol = select_protocol(offered, options.protocols)
    # Plain pairs: the handshake's own fields are safe by construction (the protocol is one
    # of ours, checked by protocol_list; the user's headers were checked by _Options); only
    # the extensions' answer, made by their code, is checked here.
    accept = accept_bytes(key)
    if not (protocol or accepted or options.extra_fields):  # the common answer
        return HybiServer(_PLAIN_UPGRADE % accept, registry, max_length=options.max_length,
                          version=f"hybi-{version}", protocol=protocol)
    fields = [*_UPGRADE_FIELDS, ("Sec-WebSocket-Accept", accept.decode("ascii"))]
    if protocol:
        fields.append(("Sec-WebSocket-Protocol", protocol))
    if accepted:
        check_header("Sec-WebSocket-Extensions", accepted)
        fields.append(("Sec-WebSocket-Extensions", accepted))
    if options.extra_fields:
        fields += options.extra_fields
    response = serialize_head(_STATUS_LINE_101, fields)
    return HybiServer(response, registry, max_length=options.max_length, version=f"hybi-{version}",
                      protocol=protocol)


def _negotiate(registry: Extensions, extensions: list[Extension], offer: str) -> str | None:
    """Register ``extensions`` and answer the client's ``offer`` (the 101's extensions field, or
    None); HandshakeError 500 when an extension fails, 400 for a malformed offer."""
    for extension in extensions:
        registry.add(extension)
    try:
        return registry.generate_response(offer)
    except ExtensionError as error:  # an extension raised: the message names it
        raise HandshakeError(str(error), STATUS_INTERNAL_ERROR) from None
    except ProtocolError as error:  # the registry's message names the header already
        raise HandshakeError(str(error), STATUS_BAD_REQUEST) from None


def _check_extensions(extensions: list[Extension]) -> None:
    """``Extensions.add``'s checks of ``extensions`` (TypeError, ValueError), made once per
    sequence of the same objects: a server passes the same extensions to every connection, and
    a handshake that offers none has no other use for them."""
    key = tuple(map(id, extensions))
    if key in _checked:
        return
    registry = Extensions()
    for extension in extensions:
        registry.add(extension)
    if len(_checked) >= CHECKED_EXTENSIONS_KEPT:
        _checked.clear()
    _checked[key] = tuple(extensions)


def _checked_key_and_version(request: Request) -> tuple[str, str]:
    """The request's key and version; HandshakeError naming exactly what is missing or wrong."""
    headers = request.headers
    key, version = headers.get("Sec-WebSocket-Key"), headers.get("Sec-WebSocket-Version")
    if not (key and version):  # RFC 6455 section 4.2.1 items 5 and 6
        missing = [name for name, value in (("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version))
                   if not value]
        plural = "s" if len(missing) > 1 else ""
        raise HandshakeError(f"Missing required header{plural}: {', '.join(missing)} "
                             f"(an RFC 6455 handshake sends both; a hixie-75 client needs allow_drafts=True)",
                             STATUS_BAD_REQUEST,
                             {"Sec-WebSocket-Version": ", ".join(SUPPORTED_VERSIONS)})
    assert key is not None and version is not None
    if version not in SUPPORTED_VERSIONS:  # section 4.4: 426 with the versions we speak
        raise HandshakeError(f"Unsupported WebSocket version: {version} (this server speaks "
                             f"{', '.join(SUPPORTED_VERSIONS)})", STATUS_UPGRADE_REQUIRED,
                             {"Sec-WebSocket-Version": ", ".join(SUPPORTED_VERSIONS)})
    if not is_valid_key(key):
        raise HandshakeError(f"Invalid Sec-WebSocket-Key {key[:40]!r}: it must be 16 random bytes in base64 "
                             f"(RFC 6455 section 4.1)", STATUS_BAD_REQUEST)
    return key, version


def _check_upgrade(request: Request) -> None:
    """HandshakeError naming which of the method, Connection and Upgrade is not an upgrade's."""
    headers = request.headers
    if request.method != "GET":  # RFC 6455 section 4.2.1 item 1
        raise HandshakeError(f"Not a WebSocket upgrade: the method is {request.method}, not GET",
                             STATUS_BAD_REQUEST)
    if not headers.has_token("connection", "upgrade"):  # item 4
        raise HandshakeError(f"Not a WebSocket upgrade: Connection is {headers.get('Connection')!r}, "
                             f"without 'Upgrade'", STATUS_BAD_REQUEST)
    if not headers.has_token("upgrade", "websocket"):  # item 3
        raise HandshakeError(f"Not a WebSocket upgrade: Upgrade is {headers.get('Upgrade')!r}, "
                             f"not 'websocket'", STATUS_BAD_REQUEST)


def _draft_driver(request: Request, options: _Options, url: str) -> Driver:
    headers = request.headers
    draft76 = "Sec-WebSocket-Key1" in headers or "Sec-WebSocket-Key2" in headers
    name = "draft-76" if draft76 else "draft-75"
    if not options.allow_drafts:
        raise HandshakeError(
            f"Unsupported WebSocket version: {name} handshakes are disabled (allow_drafts=False)",
            STATUS_BAD_REQUEST)
    if request.method != "GET" or "websocket" not in headers.tokens("Upgrade"):
        raise HandshakeError("Not a WebSocket upgrade request", STATUS_BAD_REQUEST)
    protocol = headers.get("Sec-WebSocket-Protocol" if draft76 else "WebSocket-Protocol", "") or ""
    if protocol and protocol not in options.protocols:
        protocol = ""
    if draft76:
        keys = (draft76_key_number(headers.get("Sec-WebSocket-Key1")),
                draft76_key_number(headers.get("Sec-WebSocket-Key2")))
        return Draft76Server(request, url, keys, protocol=protocol, headers=options.headers,
                             max_length=options.max_length)
    return Draft75Server(request, url, protocol=protocol, headers=options.headers,
                         max_length=options.max_length)


def build_driver(request: Request, options: _Options, url: str) -> Driver:
    """Validate ``request`` and return the driver for its protocol; HandshakeError if it cannot be."""
    headers = request.headers
    if "Sec-WebSocket-Key" in headers or "Sec-WebSocket-Version" in headers:  # RFC 6455 (hybi)
        return _hybi_driver(request, options, url)
    draft76 = "Sec-WebSocket-Key1" in headers or "Sec-WebSocket-Key2" in headers
    if not options.allow_drafts and not draft76 and "websocket" in headers.tokens("Upgrade"):
        # Without drafts, an upgrade that lacks the key is a broken RFC 6455 request: say what
        # is missing rather than "draft-75 handshakes are disabled" (issue 11).
        return _hybi_driver(request, options, url)
    if "websocket" not in headers.tokens("Upgrade"):
        # A plain HTTP request to a WebSocket-only endpoint (RFC 9110 section 15.5.22).
        raise HandshakeError("This endpoint speaks WebSocket only", STATUS_UPGRADE_REQUIRED,
                             {"Upgrade": "websocket", "Connection": "Upgrade"})
    return _draft_driver(request, options, url)


class ServerDriver:
    """The server end of one connection, from the request head to the close.

    ``request`` is None when the driver should read the head from ``receive_data`` itself; the
    I/O layer then watches ``request`` and calls ``start()`` (or ``reject()``) once it is set.
    Not thread-safe: the I/O layer serialises calls.
    """

    def __init__(
        self,
        request: Request | None = None,
        *,
        protocols: str | Sequence[str] | None = None,
        extensions: Iterable[Extension] = (),
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        allow_drafts: bool = False,
        secure: bool = False,
    ) -> None:
        self.request = request
        self._url: tuple[Request, str] | None = None  # the url, for the request it was made from
        self._options = _Options(protocols, extensions, headers, max_length, allow_drafts, secure)
        self._pre = Driver(max_length=max_length)  # holds failures before a protocol is chosen
        self._inner: Driver | None = None
        self._head: HeadBuffer | None = None  # made by the raw path's first read (_read_head)
        self._early = bytearray()
        # Sends made before the protocol driver exists (the raw path hands the WebSocket out
        # before the head is read); replayed on it once start() has created it, in order.
        self._pending: list[Callable[[Driver], bool]] = []

    @property
    def _current(self) -> Driver:
        return self._inner if self._inner is not None else self._pre

    @property
    def protocol_driver(self) -> Driver | None:
        """The protocol's driver once ``start()`` has chosen it (None before, or after a reject).

        From then on every call here is forwarded to it, so the I/O layer may call it directly.
        """
        return self._inner

    @property
    def state(self) -> ReadyState:
        """The connection's ReadyState."""
        inner = self._inner  # _current, inlined: asked several times per operation
        return (inner if inner is not None else self._pre).state

    @property
    def version(self) -> str:
        """"hybi-13" (or -8, -7), "hixie-76" or "hixie-75"; "hybi-13" before the request is read."""
        return self._current.version

    @property
    def protocol(self) -> str:
        """The subprotocol chosen, or ""."""
        return self._current.protocol

    @property
    def url(self) -> str:
        """``ws[s]://host/path`` of the request ("" before it has been read)."""
        request = self.request
        if request is None:
            return ""
        cached = self._url
        if cached is None or cached[0] is not request:  # asked several times per handshake
            cached = self._url = (request, websocket_url(request, self._options.secure))
        return cached[1]

    @property
    def close_event(self) -> CloseEvent | None:
        """The close event once produced."""
        inner = self._inner
        return (inner if inner is not None else self._pre)._close_event

    @property
    def held_bytes(self) -> int:
        """Bytes received and not delivered yet (see Driver.held_bytes); the head is capped apart."""
        return self._current.held_bytes

    def start(self) -> None:
        """Validate the request and answer it: 101 (upgrade) or an HTTP error and a close event."""
        if self._inner is not None or self._pre.state is ReadyState.CLOSED:
            return
        if self.request is None:
            raise HandshakeError("start() called before the request head arrived")
        try:
            inner = build_driver(self.request, self._options, self.url)
        except HandshakeError as error:
            self.reject(error.status or STATUS_BAD_REQUEST, str(error), error.headers.items())
            return
        self._inner = inner
        inner.start()
        pending, self._pending = self._pending, []
        for operation in pending:
            operation(inner)
        if self._early:
            early, self._early = bytes(self._early), bytearray()
            inner.receive_data(early)

    @property
    def ready_to_start(self) -> bool:
        """False while the raw path still waits for the request head."""
        return self.request is not None

    def reject(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Answer with an HTTP error instead of upgrading; an error event and a close event follow."""
        if self._inner is not None or self._pre.state is ReadyState.CLOSED:
            return
        self._pending.clear()
        self._pre._write(error_response(status, message, headers))
        self._pre._fail(HandshakeError(message, status, dict(headers)))

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client: the head (if not read yet), then the protocol's frames."""
        if self._inner is not None:
            self._inner.receive_data(data)
        elif self._pre.state is ReadyState.CLOSED:
            return
        elif self.request is not None:
            self._early += data
        else:
            self._read_head(data)

    def _read_head(self, data: bytes) -> None:
        if self._head is None:
            self._head = HeadBuffer(MAX_HEAD_SIZE)
        try:
            done = self._head.feed(data)
            if done is not None:
                self.request = parse_request(done[0])
                self._early += done[1]
        except HeadError as error:
            self.reject(error.status or STATUS_BAD_REQUEST, str(error))

    def receive_eof(self) -> None:
        """The client closed its side."""
        self._current.receive_eof()

    def events_received(self) -> list[Event]:
        """Events since the last call."""
        inner = self._inner
        if inner is not None and not self._pre._events:  # the pre-driver failed nothing (the rule)
            return inner.events_received()
        events = self._pre.events_received()
        if inner is not None:
            events += inner.events_received()
        return events

    def data_to_send(self) -> bytes:
        """Bytes to write since the last call."""
        inner = self._inner
        if inner is not None and not self._pre._chunks:  # nothing from before the protocol's choice
            return inner.data_to_send()
        data = self._pre.data_to_send()
        if inner is not None:
            data += inner.data_to_send()
        return data

    def close_expected(self) -> bool:
        """True once the TCP connection should end (RFC 6455 section 7.1.1: the server closes first)."""
        return self._current.close_expected()

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Send a text or binary message (see Driver.send)."""
        if self._inner is not None:  # the common case, without the detour through _forward
            return self._inner.send(data)
        return send_by_type(self, data)

    def text(self, message: str) -> bool:
        """Send a text message; before start() it waits for the protocol driver (see Driver.text)."""
        if self._inner is None:
            message.encode("utf-8")  # refuse text without a UTF-8 form now, as Driver.text does
        return self._forward(lambda driver: driver.text(message))

    def binary(self, message: bytes) -> bool:
        """Send a binary message; before start() it waits for the protocol driver."""
        payload = bytes(message)
        return self._forward(lambda driver: driver.binary(payload))

    def ping(self, payload: str | bytes = b"") -> bool:
        """Send a ping; False on drafts or when closing; ValueError over 125 bytes."""
        data = check_ping_payload(to_payload(payload))
        return self._forward(lambda driver: driver.ping(data))

    def _forward(self, operation: Callable[[Driver], bool]) -> bool:
        if self._inner is not None:
            return operation(self._inner)
        if self._pre.state is not ReadyState.CONNECTING:
            return False
        self._pending.append(operation)
        return True

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bool:
        """Start the closing handshake (see Driver.close); before start() it aborts at once."""
        closing = self._current.close(code, reason)
        if self._inner is None and self._pre.state is ReadyState.CLOSED:
            self._pending.clear()  # closed before the upgrade: nothing queued will be sent
        return closing

    def shared_framing(self) -> SharedFraming | None:
        """The protocol driver's shared framing (see Hybi.shared_framing); None before it exists."""
        return self._inner.shared_framing() if self._inner is not None else None

    def abort(self, code: int = CloseCode.ABNORMAL_CLOSURE, reason: str = "") -> None:
        """Give up on the connection now (see Driver.abort)."""
        self._current.abort(code, reason)
