"""The exception tree of faye_websocket.

::

    WebSocketError
     +-- ProtocolError (close code 1002)       the peer broke RFC 6455
     |    +-- MessageTooLarge (1009)           a message over max_length, also after inflating
     |    +-- InvalidPayload (1007)            text or close reason that is not UTF-8
     |    +-- UnacceptableData (1003)          data of a type the endpoint cannot accept
     |    +-- ExtensionError (1010)            extension negotiation or processing failed
     +-- HandshakeError (status, headers)      the opening handshake failed
     |    +-- ProxyError                       the CONNECT proxy refused or broke the tunnel
     +-- ConnectionClosed (code, reason)       the operation needs an open connection
     +-- InvalidState                          the call makes no sense in this state

Booleans mean "not now" (``send`` after close returns False); exceptions mean "never".
"""

from __future__ import annotations

from typing import Mapping


class WebSocketError(Exception):
    """Root of every error raised by faye_websocket."""


class ProtocolError(WebSocketError):
    """The peer violated the protocol; ``code`` is the close code to fail the connection with."""

    code: int = 1002  # CloseCode.PROTOCOL_ERROR, RFC 6455 section 7.4.1

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class MessageTooLarge(ProtocolError):
    """An incoming message is longer than ``max_length`` (close code 1009)."""

    code = 1009  # CloseCode.MESSAGE_TOO_BIG


class InvalidPayload(ProtocolError):
    """Text that is not valid UTF-8, or similar inconsistent data (close code 1007)."""

    code = 1007  # CloseCode.INVALID_PAYLOAD


class UnacceptableData(ProtocolError):
    """Data of a type this endpoint cannot accept (close code 1003)."""

    code = 1003  # CloseCode.UNSUPPORTED_DATA


class ExtensionError(ProtocolError):
    """Extension negotiation or message processing failed (close code 1010)."""

    code = 1010  # CloseCode.MANDATORY_EXTENSION


class HandshakeError(WebSocketError):
    """The opening handshake failed.

    ``status`` and ``headers`` describe the HTTP response involved (the server's answer on the
    client side, the answer we sent on the server side); ``status`` is None when no response was
    parsed.
    """

    def __init__(
        self, message: str, status: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers: dict[str, str] = dict(headers or {})


class ProxyError(HandshakeError):
    """The HTTP CONNECT proxy refused the tunnel (``status`` is its answer) or broke it."""


class ConnectionClosed(WebSocketError):
    """The connection is closed; ``code`` and ``reason`` are those of its close event."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class InvalidState(WebSocketError):
    """The operation is not possible in the connection's current state."""
