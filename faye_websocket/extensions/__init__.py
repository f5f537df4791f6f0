"""The extension framework (a port of websocket-extensions) and permessage-deflate (RFC 7692)."""

from .base import ClientSession, Extension, Message, Params, ParamValue, ServerSession, Session
from .header import ExtensionHeaderError, ExtensionOffer, parse_header, serialize_header, serialize_params
from .negotiation import Extensions
from .permessage_deflate import DeflateParameters, PermessageDeflate

__all__ = [
    "ClientSession",
    "DeflateParameters",
    "Extension",
    "ExtensionHeaderError",
    "ExtensionOffer",
    "Extensions",
    "Message",
    "ParamValue",
    "Params",
    "PermessageDeflate",
    "ServerSession",
    "Session",
    "parse_header",
    "serialize_header",
    "serialize_params",
]
