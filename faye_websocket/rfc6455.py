"""The protocol's registered numbers and limits (RFC 6455 sections 5.2, 5.5, 7.4 and 11.8).

The lowest layer of the package: the sans-I/O driver, the extensions and the I/O layer all take
opcodes, close codes and control-frame limits from here, so that ``extensions/`` needs nothing of
``driver/`` (which imports ``extensions/``) and each limit is checked by one function.
"""

from __future__ import annotations

from enum import IntEnum

# The RSV bits of a frame's first byte (RFC 6455 section 5.2): the parser checks them, and an
# extension's message carries its flags in these places next to its opcode.
RSV1_BIT = 0x40
RSV2_BIT = 0x20
RSV3_BIT = 0x10
MAX_CONTROL_PAYLOAD = 125  # RFC 6455 section 5.5: control frames carry at most 125 bytes
CLOSE_CODE_LENGTH = 2  # RFC 6455 section 5.5.1: the status code is a 2-byte unsigned integer
MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - CLOSE_CODE_LENGTH  # 123 bytes of UTF-8

PING_TOO_LONG = "a ping payload is at most 125 bytes (RFC 6455 section 5.5)"
REASON_TOO_LONG = "a close reason is at most 123 bytes of UTF-8 (RFC 6455 section 5.5)"


class Opcode(IntEnum):
    """Frame opcodes of RFC 6455 section 5.2; all others are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """True for close, ping and pong (RFC 6455 section 5.5)."""
        return self >= Opcode.CLOSE


class CloseCode(IntEnum):
    """Status codes of RFC 6455 section 7.4.1 (and the IANA registry's 1012-1014)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RECEIVED = 1005  # never sent on the wire
    ABNORMAL_CLOSURE = 1006  # never sent on the wire
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never sent on the wire


# RFC 6455 section 7.4: codes a peer may put in a close frame. 1004-1006 and 1015 are reserved
# and must never appear on the wire; 0-999 are unused; 1016-2999 are for future RFCs; 3000-4999
# are for libraries and applications.
WIRE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
APPLICATION_CODES = range(3000, 5000)


def is_valid_wire_close_code(code: int) -> bool:
    """True when ``code`` may be carried by a close frame (RFC 6455 section 7.4)."""
    return code in WIRE_CODES or code in APPLICATION_CODES


def check_ping_payload(payload: bytes) -> bytes:
    """Return ``payload``; ValueError when it is over the 125 bytes of a control frame."""
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ValueError(PING_TOO_LONG)
    return payload


def check_close_reason(reason: str) -> bytes:
    """Return ``reason`` as UTF-8; ValueError when it is over the 123 bytes a close frame leaves it."""
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_CLOSE_REASON:
        raise ValueError(REASON_TOO_LONG)
    return encoded
