"""faye_websocket: standards-compliant WebSocket server, client and EventSource for blocking Python.

A port of faye-websocket (Node) for threaded, blocking Python: ``WebSocket`` takes over a request
inside an http.server / socketserver / WSGI handler, ``Client`` and ``connect`` open client
connections (ws, wss, through CONNECT and SOCKS proxies), ``reconnecting`` opens them again after
a drop, ``EventSource`` writes Server-Sent Events and
``EventSourceClient`` reads them. See README.md for usage.
"""

from . import errors
from .client import Client, Reconnecting, RetryEvent, connect, reconnecting
from .errors import (
    ConnectionClosed,
    ExtensionError,
    HandshakeError,
    InvalidPayload,
    InvalidState,
    MessageTooLarge,
    ProtocolError,
    ProxyError,
    UnacceptableData,
    WebSocketError,
)
from .events import CloseEvent, ErrorEvent, MessageEvent, OpenEvent, PingEvent, PongEvent, ReadyState
from .eventsource.client import EventSourceClient
from .eventsource.parser import ServerSentEvent
from .eventsource.writer import EventSource
from .eventsource.wsgi import EventSourceResponse
from .extensions.permessage_deflate import PermessageDeflate
from .server.websocket import WebSocket
from .version import __version__

__all__ = [
    "Client",
    "CloseEvent",
    "ConnectionClosed",
    "ErrorEvent",
    "EventSource",
    "EventSourceClient",
    "EventSourceResponse",
    "ExtensionError",
    "HandshakeError",
    "InvalidPayload",
    "InvalidState",
    "MessageEvent",
    "MessageTooLarge",
    "OpenEvent",
    "PermessageDeflate",
    "PingEvent",
    "PongEvent",
    "ProtocolError",
    "ProxyError",
    "ReadyState",
    "Reconnecting",
    "RetryEvent",
    "ServerSentEvent",
    "UnacceptableData",
    "WebSocket",
    "WebSocketError",
    "__version__",
    "connect",
    "errors",
    "reconnecting",
]
