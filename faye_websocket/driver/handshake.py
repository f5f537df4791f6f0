"""Pieces of the opening handshake shared by both sides (RFC 6455 section 4)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from typing import Iterable, Sequence

from ..extensions.header import is_token

ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
KEY_BYTES = 16  # RFC 6455 section 4.1: "a randomly selected 16-byte value ... base64-encoded"


def generate_key() -> str:
    """A fresh Sec-WebSocket-Key: 16 random bytes, base64-encoded."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def accept_value(key: str) -> str:
    """The Sec-WebSocket-Accept answer to ``key`` (RFC 6455 section 4.2.2, step 5.4)."""
    return accept_bytes(key).decode("ascii")


def accept_bytes(key: str) -> bytes:
    """``accept_value(key)`` as the ASCII bytes a server writes into its 101."""
    digest = hashlib.sha1(key.encode("latin-1") + ACCEPT_GUID).digest()
    return binascii.b2a_base64(digest, newline=False)  # base64.b64encode without its call


def is_valid_key(key: str | None) -> bool:
    """True when ``key`` is base64 of exactly 16 bytes (RFC 6455 section 4.2.1, item 5)."""
    if not key:
        return False
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == KEY_BYTES
    except (ValueError, UnicodeEncodeError):
        return False


def protocol_list(protocols: str | Iterable[str] | None) -> list[str]:
    """Subprotocols from a list, a comma-separated string (as the original allowed), or None.

    ValueError for a name that is not a token: RFC 6455 section 4.1 item 10 allows U+0021 to
    U+007E without separators, and anything else would break the header it is written in.
    """
    if protocols is None:
        return []
    if isinstance(protocols, str):
        result = [p.strip() for p in protocols.split(",") if p.strip()]
    else:
        result = [str(p) for p in protocols]
    for name in result:
        if not is_token(name):  # RFC 7230 section 3.2.6: tchar, the characters of a token
            raise ValueError(f"invalid subprotocol name: {name!r}")
    return result


def select_protocol(offered: Sequence[str], supported: Sequence[str]) -> str:
    """The first protocol in the client's order that the server supports, or "" (as the original)."""
    for name in offered:
        if name in supported:
            return name
    return ""
