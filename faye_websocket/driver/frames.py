"""RFC 6455 section 5 frames: opcodes, close codes, header parsing and serialization, masking."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import Callable, Generator

from ..errors import InvalidPayload, MessageTooLarge, ProtocolError
from ..rfc6455 import (
    MAX_CONTROL_PAYLOAD,
    RSV1_BIT,
    RSV2_BIT,
    RSV3_BIT,
    CloseCode,
    Opcode,
    is_valid_wire_close_code,
)

MASK_KEY_LENGTH = 4  # RFC 6455 section 5.3
LENGTH_16_MARKER = 126  # RFC 6455 section 5.2: "If 126, the following 2 bytes ..."
LENGTH_64_MARKER = 127  # RFC 6455 section 5.2: "If 127, the following 8 bytes ..."
MAX_LENGTH_7 = 125
MAX_LENGTH_16 = 0xFFFF
LENGTH_64_TOP_BIT = 1 << 63  # RFC 6455 section 5.2: "the most significant bit MUST be 0"

FIN_BIT = 0x80
OPCODE_BITS = 0x0F
MASK_BIT = 0x80
LENGTH_BITS = 0x7F


@dataclass(frozen=True)
class Frame:
    """One RFC 6455 frame with its payload already unmasked."""

    fin: bool
    opcode: Opcode
    payload: bytes
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False


# Measured by scripts/bench_mask.py: for payloads above this size, four strided
# bytes.translate passes beat one big-integer XOR (about 2x at 1 MiB); below it the integer
# XOR has less fixed cost.
TRANSLATE_THRESHOLD = 2048
# Large payloads are masked a block at a time: each lane of a block is a 16 KiB temporary that
# malloc recycles, where a lane of a whole megabyte is mapped and faulted in afresh every time
# (a page fault per 4 KiB costs about as much as the masking: scripts/bench_mask.py).
MASK_BLOCK = 65536
BYTE_VALUES = 256
# Measured per payload (user-space instructions, callgrind): from this length on, the repeated key
# built by one multiplication (mask_words) beats slicing a repeated bytes key, even as a call against
# the callers' inlined slicing (9.2k against 9.4k at 136 bytes, 42.4k against 46.7k at 1 KiB); below
# it the slicing is cheaper (10.9k against 10.6k at 126 bytes, 6.5k against 6.2k at 16, both called),
# so 7-bit lengths keep the sliced key.
MULTIPLY_THRESHOLD = 136
REPEATERS_CACHED = 64  # word counts whose repeater is kept: one per payload size in recent use
_WORD_ONE = b"\x01\x00\x00\x00"  # 1 as a little-endian 4-byte word: one key per word


# int.from_bytes bound once: looked up on ``int`` it makes a new bound method (a classmethod) per
# use, about 600 instructions; the per-message paths call it two or three times per frame.
int_from_bytes = int.from_bytes

_IDENTITY = bytes(range(BYTE_VALUES))


@functools.lru_cache(maxsize=BYTE_VALUES)
def _xor_table(key_byte: int) -> bytes:
    """The bytes.translate table that XORs every byte with ``key_byte``."""
    # One integer XOR over the identity table: a loop over 256 values costs 50x as much, and a
    # masking key brings four new tables more often than not.
    masked = int.from_bytes(_IDENTITY, "big") ^ int.from_bytes(bytes((key_byte,)) * BYTE_VALUES, "big")
    return masked.to_bytes(BYTE_VALUES, "big")


Maskable = bytes | bytearray | memoryview  # a memoryview lets a caller mask part of a buffer, uncopied


def apply_mask(data: Maskable, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 section 5.3); returns bytes."""
    masked = mask_buffer(data, key)
    return masked if isinstance(masked, bytes) else bytes(masked)


def mask_buffer(data: Maskable, key: bytes) -> bytes | bytearray:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 section 5.3).

    Pure Python at C speed: small payloads are XORed as one big integer (the key repeated by
    slicing below MULTIPLY_THRESHOLD, by multiplication above: ``mask_words``); large ones as four
    strided slices (every 4th byte shares a key byte) through ``bytes.translate`` tables. Both
    are orders of magnitude faster than a loop over bytes. (XORing 64 KiB integers in turn, the
    other candidate for large payloads, measured no faster: scripts/bench_mask.py.)
    """
    length = len(data)
    if length == 0:
        return b""
    if length >= MULTIPLY_THRESHOLD:
        if length < TRANSLATE_THRESHOLD:
            return mask_words(data, key, length)
        out = bytearray(length)
        mask_into(out, 0, data, key)
        return out
    repeated = key * (length // MASK_KEY_LENGTH + 1)
    masked = int_from_bytes(data, "little") ^ int_from_bytes(repeated[:length], "little")
    return masked.to_bytes(length, "little")


def mask_words(data: Maskable, key: Maskable, length: int) -> bytes:
    """``data`` (``length`` bytes) XORed with the 4-byte ``key`` repeated (RFC 6455 section 5.3), as
    one integer XOR whose repeated key is one multiplication: for MULTIPLY_THRESHOLD <= ``length``
    < TRANSLATE_THRESHOLD (the callers' short path is cheaper below, translate lanes above)."""
    words = (length + MASK_KEY_LENGTH - 1) // MASK_KEY_LENGTH
    # The key times 1 + 2**32 + 2**64 + ... is the key repeated: each product fits its own 4 bytes,
    # so nothing carries. Little-endian, the bytes past ``length`` are the high ones, cut off.
    masked = int_from_bytes(data, "little") ^ int_from_bytes(key, "little") * _word_repeater(words)
    if length % MASK_KEY_LENGTH:
        return masked.to_bytes(words * MASK_KEY_LENGTH, "little")[:length]
    return masked.to_bytes(length, "little")


@functools.lru_cache(maxsize=REPEATERS_CACHED)
def _word_repeater(words: int) -> int:
    """The integer whose little-endian bytes are 01 00 00 00 repeated ``words`` times."""
    return int.from_bytes(_WORD_ONE * words, "little")


def mask_into(out: bytearray, at: int, data: Maskable, key: bytes, length: int | None = None) -> None:
    """Write the first ``length`` bytes of ``data`` (all of it by default) XORed with ``key`` (RFC
    6455 section 5.3) into ``out[at : at + length]``: four strided ``bytes.translate`` lanes per
    block, no other buffer the size of ``data`` (a fresh megabyte costs more in page faults than
    the masking itself). ``out`` may be ``data`` itself (masking in place)."""
    if length is None:
        length = len(data)
    tables = [_xor_table(key_byte) for key_byte in key]
    for block in range(0, length, MASK_BLOCK):
        end = min(block + MASK_BLOCK, length)
        # A block of fewer than 4 bytes has empty lanes: assigning one would "resize" the buffer,
        # which fails while a view of it exists (a reused send buffer may still be viewed).
        for offset in range(min(MASK_KEY_LENGTH, end - block)):
            lane = data[block + offset : end : MASK_KEY_LENGTH]
            if isinstance(lane, memoryview):  # slower than slicing bytes: callers slice large payloads
                lane = lane.tobytes()
            out[at + block + offset : at + end : MASK_KEY_LENGTH] = lane.translate(tables[offset])


def serialize_frame(frame: Frame, *, mask: bool) -> bytes:
    """Encode ``frame`` with the minimal length encoding; clients pass ``mask=True``.

    A fresh random masking key is drawn for every frame (RFC 6455 section 5.3 requires that it be
    unpredictable), so the caller's payload is never modified.
    """
    first = (
        (FIN_BIT if frame.fin else 0)
        | (RSV1_BIT if frame.rsv1 else 0)
        | (RSV2_BIT if frame.rsv2 else 0)
        | (RSV3_BIT if frame.rsv3 else 0)
        | frame.opcode
    )
    return encode_frame(first, frame.payload, secrets.token_bytes(MASK_KEY_LENGTH) if mask else None)


def encode_frame(first: int, payload: bytes, key: bytes | None) -> bytes:
    """One frame: ``first`` is the first header byte (FIN, RSV bits, opcode); masked with ``key``
    (4 bytes, RFC 6455 section 5.3) unless it is None. The minimal length encoding (section 5.2)."""
    length = len(payload)
    if key is None:
        if length <= MAX_LENGTH_7:
            return bytes((first, length)) + payload
        return frame_head(first, 0, length) + payload
    if length <= MAX_LENGTH_7:
        return bytes((first, MASK_BIT | length)) + key + mask_buffer(payload, key)
    head = frame_head(first, MASK_BIT, length) + key
    if length < TRANSLATE_THRESHOLD:
        # mask_words straight away: below MULTIPLY_THRESHOLD (126-135 bytes here) it costs a few
        # hundred instructions more than mask_buffer's slicing, less than the call it saves.
        return head + mask_words(payload, key, length)
    return bytes(masked_frame(head, payload, key))


def masked_frame(head: bytes, payload: bytes, key: bytes) -> bytearray:
    """``head`` (which ends with ``key``) then ``payload`` masked with ``key``, built in one buffer:
    a large payload is masked straight into its frame (masking then concatenating made two
    payload-sized buffers, and whole-payload lanes four more, each mapped and faulted in afresh)."""
    frame = bytearray(len(head) + len(payload))
    frame[: len(head)] = head
    mask_into(frame, len(head), payload, key)
    return frame


def frame_head(first: int, mask_bit: int, length: int) -> bytes:
    """A frame's header up to its length field (RFC 6455 section 5.2), the minimal encoding."""
    if length <= MAX_LENGTH_16:
        return bytes((first, mask_bit | LENGTH_16_MARKER)) + length.to_bytes(2, "big")
    return bytes((first, mask_bit | LENGTH_64_MARKER)) + length.to_bytes(8, "big")


# A client keeps the buffer it masks large frames into up to this size (frame headers included):
# reused, it is mapped once, where a fresh megabyte per message costs its page faults each time.
SEND_BUFFER_MAX = (4 << 20) + 14


class SendBuffer:
    """The buffer one connection masks its large frames into, reused frame after frame.

    ``frame`` returns a view of it, valid until the next call: the caller writes each frame before
    it asks for the next. A bigger frame gets a new buffer (never a resize, so a view still held
    stays valid); one over SEND_BUFFER_MAX a buffer of its own, not kept.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def frame(self, head: bytes, payload: bytes, key: bytes) -> bytearray | memoryview:
        """``head`` (ending with ``key``) then ``payload`` masked with ``key`` (RFC 6455 section 5.3)."""
        size = len(head) + len(payload)
        if size > SEND_BUFFER_MAX:
            return masked_frame(head, payload, key)
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        buffer = self._buffer
        buffer[: len(head)] = head
        mask_into(buffer, len(head), payload, key)
        return memoryview(buffer)[:size]


MASK_POOL_SIZE = 1024  # bytes of randomness drawn at once: 256 masking keys per system call


class MaskKeys:
    """Masking keys for one connection's outgoing frames, from ``secrets`` (the OS's CSPRNG).

    RFC 6455 section 10.3 asks for keys a peer cannot predict, which a CSPRNG gives whether its
    bytes are drawn four at a time or a block at a time; a block saves a system call per frame.
    Not thread-safe: the driver's caller serialises calls.
    """

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> bytes:
        """The next 4-byte key."""
        at = self._at
        if at >= len(self._pool):
            self._pool = secrets.token_bytes(MASK_POOL_SIZE)
            at = 0
        self._at = at + MASK_KEY_LENGTH
        return self._pool[at : at + MASK_KEY_LENGTH]


ReadExact = Callable[[int], Generator[None, None, bytes]]
RsvCheck = Callable[[Opcode, bool, bool, bool], bool]


@dataclass(frozen=True)
class FrameRules:
    """What a parser accepts: who must mask, how long a message may grow, which RSV bits are owned."""

    require_masking: bool
    forbid_masking: bool
    max_length: int
    rsv_allowed: RsvCheck


def parse_frame(
    read_exact: ReadExact, rules: FrameRules, message_length: int
) -> Generator[None, None, Frame]:
    """Read one frame, validating its header before any payload is buffered.

    ``message_length`` is how many payload bytes the message in progress already holds, so that
    ``max_length`` bounds the whole message (RFC 6455 section 10.4) and a huge declared length is
    refused before a single payload byte is stored (faye-websocket-node #26).
    """
    first, second = yield from read_exact(2)
    fin, rsv1, rsv2, rsv3 = (
        bool(first & FIN_BIT),
        bool(first & RSV1_BIT),
        bool(first & RSV2_BIT),
        bool(first & RSV3_BIT),
    )
    opcode = _opcode(first & OPCODE_BITS)
    if (rsv1 or rsv2 or rsv3) and not rules.rsv_allowed(opcode, rsv1, rsv2, rsv3):
        raise ProtocolError(
            f"One or more reserved bits are on: reserved1 = {int(rsv1)}, reserved2 = {int(rsv2)}, "
            f"reserved3 = {int(rsv3)}"
        )
    masked = bool(second & MASK_BIT)
    _check_masking(masked, rules)
    length = yield from _read_length(read_exact, second & LENGTH_BITS)
    if opcode.is_control:
        _check_control(fin, length)
    elif message_length + length > rules.max_length:
        raise MessageTooLarge("WebSocket frame length too large")
    key = (yield from read_exact(MASK_KEY_LENGTH)) if masked else b""
    payload = yield from read_exact(length)
    if masked:
        payload = apply_mask(payload, key)
    return Frame(fin, opcode, payload, rsv1, rsv2, rsv3)


_OPCODES = {int(opcode): opcode for opcode in Opcode}  # a dict lookup is faster than Opcode(value)


def _opcode(value: int) -> Opcode:
    opcode = _OPCODES.get(value)
    if opcode is None:
        raise ProtocolError(f"Unrecognized frame opcode: {value}")
    return opcode


def _check_masking(masked: bool, rules: FrameRules) -> None:
    # RFC 6455 section 5.1: a server MUST close on an unmasked client frame and a client MUST
    # close on a masked server frame; both are protocol errors (1002). The original used 1003.
    if rules.require_masking and not masked:
        raise ProtocolError("Received unmasked frame but masking is required")
    if rules.forbid_masking and masked:
        raise ProtocolError("Received masked frame from the server")


def _read_length(read_exact: ReadExact, marker: int) -> Generator[None, None, int]:
    if marker == LENGTH_16_MARKER:
        return int.from_bytes((yield from read_exact(2)), "big")
    if marker == LENGTH_64_MARKER:
        length = int.from_bytes((yield from read_exact(8)), "big")
        if length & LENGTH_64_TOP_BIT:
            raise ProtocolError("Frame length has its most significant bit set")
        return length
    return marker


def _check_control(fin: bool, length: int) -> None:
    # RFC 6455 section 5.5: "All control frames MUST have a payload length of 125 bytes or less
    # and MUST NOT be fragmented."
    if not fin:
        raise ProtocolError("Received fragmented control frame")
    if length > MAX_CONTROL_PAYLOAD:
        raise ProtocolError("Received control frame having too long payload")


def serialize_close_payload(code: int | None, reason: str) -> bytes:
    """The close frame body: a 2-byte code and a UTF-8 reason, or nothing (RFC 6455 section 5.5.1)."""
    if code is None:
        return b""
    return code.to_bytes(2, "big") + reason.encode("utf-8")


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """Decode a received close frame body into (code, reason), validating both.

    An empty body means no status was given: code 1005 (RFC 6455 section 7.1.5; the original
    reported 1000). A 1-byte body or a code that may not appear on the wire is a protocol error;
    a reason that is not UTF-8 is invalid payload data (1007).
    """
    if not payload:
        return CloseCode.NO_STATUS_RECEIVED, ""
    if len(payload) == 1:
        raise ProtocolError("Received close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_wire_close_code(code):
        raise ProtocolError(f"Received close frame with invalid code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("Could not decode the close reason as UTF-8") from None
    return code, reason
