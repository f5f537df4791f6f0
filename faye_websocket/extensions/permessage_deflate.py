"""permessage-deflate (RFC 7692): negotiation of its four parameters and the zlib codec.

A port of faye's permessage-deflate with the same options and negotiation rules, plus what the
original lacked: the inflated size is bounded by ``max_length`` (a zip bomb raises
MessageTooLarge before more than ``max_length`` bytes exist), the cost of inflating is bounded
in proportion to what was received (``max_ratio``: a message may inflate to at most that many
times its compressed size, or ``RATIO_FREE_SIZE``, whichever is more), and short messages can be
left uncompressed (``threshold``).

A session belongs to one connection and is used under that connection's lock; zlib objects are
created lazily, so an idle connection holds none.
"""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass
from typing import Sequence

from ..errors import ExtensionError, MessageTooLarge, ProtocolError
from .base import Message, Params, ParamValue

EXTENSION_NAME = "permessage-deflate"  # RFC 7692 section 7
SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"  # RFC 7692 section 7.1.1.1
CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"  # RFC 7692 section 7.1.1.2
SERVER_MAX_WINDOW_BITS = "server_max_window_bits"  # RFC 7692 section 7.1.2.1
CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"  # RFC 7692 section 7.1.2.2
_KNOWN_PARAMS = frozenset(
    {SERVER_NO_CONTEXT_TAKEOVER, CLIENT_NO_CONTEXT_TAKEOVER, SERVER_MAX_WINDOW_BITS, CLIENT_MAX_WINDOW_BITS}
)

MIN_WINDOW_BITS = 8  # RFC 7692 section 7.1.2.1: "a decimal integer in the range 8 to 15"
MAX_WINDOW_BITS = 15  # RFC 7692 section 7.1.2.1; also the default LZ77 window (32 KiB)
# zlib >= 1.2.9 refuses a raw deflate window of 8 bits. Opening 9 instead is safe: deflate never
# emits a distance above w_size - 262 (zlib's MIN_LOOKAHEAD), i.e. 250 for 9 bits, which fits
# the 256-byte window the peer agreed to. permessage-deflate-node 0.1.6 does the same.
ZLIB_MIN_WINDOW_BITS = 9
# RFC 7692 section 7.2.1: the empty stored block that ends a sync flush; removed after
# compressing, appended again before inflating (section 7.2.2).
TAIL = b"\x00\x00\xff\xff"

DEFAULT_MEM_LEVEL = 8  # zlib's DEF_MEM_LEVEL, permessage-deflate-node's default
MAX_MEM_LEVEL = 9  # zlib's MAX_MEM_LEVEL
DEFAULT_THRESHOLD = 0  # compress every message, as the original does
_STRATEGIES = frozenset(
    {zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE, zlib.Z_FIXED}
)

INVALID_DATA = "invalid compressed data"
TOO_LARGE = "inflated message exceeds max_length of {limit} bytes"
TOO_COMPRESSED = "inflated message exceeds {ratio} times its compressed size"
# zlib inflates at most about 1032 bytes per byte received (deflate's densest code): a 61 KB
# message could make 60 MiB and cost half a CPU-second to refuse. Text and JSON compress 3-20
# times, repetitive JSON arrays rarely beyond 100, so 100 bounds the work per received byte
# without refusing real traffic; messages inflating to at most RATIO_FREE_SIZE are never refused.
DEFAULT_MAX_RATIO = 100
RATIO_FREE_SIZE = 1 << 20
CLOSED = "received a compressed message after the session was closed"
# A compressed payload up to this size gets its tail appended by a copy, so that one zlib call
# inflates it; a larger one is inflated in two calls rather than copied.
JOIN_TAIL_SIZE = 64 * 1024
# The history kept for the peer's window (see _DeflateSession._history) is trimmed once it holds
# this many windows: a trim per message cost more than inflating the message.
HISTORY_SLACK = 2
# Idle compressors kept per settings for messages compressed alone (``deflate_alone``): about as
# many as threads compress at once; each holds zlib's state (about 256 KiB at the defaults).
MAX_IDLE_COMPRESSORS = 4


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound}, not {value}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")


def is_window_bits(value: ParamValue) -> bool:
    """True for an int from 8 to 15 (RFC 7692 section 7.1.2); bools are not ints here."""
    return type(value) is int and MIN_WINDOW_BITS <= value <= MAX_WINDOW_BITS


@dataclass(frozen=True)
class DeflateParameters:
    """What the handshake agreed, seen from this endpoint: "own" compresses, "peer" inflates."""

    own_context_takeover: bool = True
    own_window_bits: int = MAX_WINDOW_BITS
    peer_context_takeover: bool = True
    peer_window_bits: int = MAX_WINDOW_BITS


@dataclass(frozen=True)
class _Options:
    level: int
    mem_level: int
    strategy: int
    no_context_takeover: bool
    max_window_bits: int | None
    request_no_context_takeover: bool
    request_max_window_bits: int | None
    threshold: int
    max_ratio: int | None


class PermessageDeflate:
    """The permessage-deflate extension; pass an instance in ``extensions=[...]``.

    Options (keyword-only; an unknown one is a TypeError, a bad value a ValueError/TypeError):
    ``level``, ``mem_level``, ``strategy``: zlib's compression settings.
    ``no_context_takeover``: compress every message alone (and say so); no connection then
    holds a compressor: each message borrows an idle one (see ``deflate_alone``).
    ``max_window_bits``: the largest LZ77 window (8-15) our compressor may use.
    ``request_no_context_takeover``: ask the peer to reset its compressor per message.
    ``request_max_window_bits``: ask the peer to use at most this window (8-15).
    ``threshold``: messages shorter than this many bytes are sent uncompressed (RSV1 clear).
    ``max_ratio``: an incoming message may inflate to at most this many times its compressed
    size (or 1 MiB, whichever is more); beyond it the connection is closed with 1009, before
    more work is spent (default 100; None: only ``max_length`` bounds it).

    One instance serves any number of connections: it only holds configuration.
    """

    name = EXTENSION_NAME
    type = "permessage"
    rsv1 = True  # RFC 7692 section 6: "the RSV1 bit ... Per-Message Compressed bit"
    rsv2 = False
    rsv3 = False

    def __init__(
        self,
        *,
        level: int = zlib.Z_DEFAULT_COMPRESSION,
        mem_level: int = DEFAULT_MEM_LEVEL,
        strategy: int = zlib.Z_DEFAULT_STRATEGY,
        no_context_takeover: bool = False,
        max_window_bits: int | None = None,
        request_no_context_takeover: bool = False,
        request_max_window_bits: int | None = None,
        threshold: int = DEFAULT_THRESHOLD,
        max_ratio: int | None = DEFAULT_MAX_RATIO,
    ) -> None:
        _check_int("level", level, zlib.Z_DEFAULT_COMPRESSION, zlib.Z_BEST_COMPRESSION)
        _check_int("mem_level", mem_level, 1, MAX_MEM_LEVEL)
        _check_int("strategy", strategy, 0, None)
        if strategy not in _STRATEGIES:
            raise ValueError(f"strategy must be one of zlib's Z_* strategies, not {strategy}")
        _check_bool("no_context_takeover", no_context_takeover)
        _check_bool("request_no_context_takeover", request_no_context_takeover)
        for name, bits in (
            ("max_window_bits", max_window_bits),
            ("request_max_window_bits", request_max_window_bits),
        ):
            if bits is not None:
                _check_int(name, bits, MIN_WINDOW_BITS, MAX_WINDOW_BITS)
        _check_int("threshold", threshold, 0, None)
        if max_ratio is not None:
            _check_int("max_ratio", max_ratio, 1, None)
        self._options = _Options(
            level, mem_level, strategy, no_context_takeover, max_window_bits,
            request_no_context_takeover, request_max_window_bits, threshold, max_ratio,
        )  # fmt: skip

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self._options).items())
        return f"PermessageDeflate({fields})"

    def create_client_session(self) -> DeflateClientSession:
        """A client session that will offer this configuration."""
        return DeflateClientSession(self._options)

    def create_server_session(self, offers: Sequence[Params]) -> DeflateServerSession | None:
        """A server session for the first acceptable offer, or None when none is acceptable."""
        for params in offers:
            if _valid_server_params(params):
                return DeflateServerSession(self._options, params)
        return None


def _valid_common(params: Params) -> bool:
    """permessage-deflate-node's ``validParams``: known names, no repeats, well-formed values."""
    if any(key not in _KNOWN_PARAMS or isinstance(value, list) for key, value in params.items()):
        return False
    for flag in (SERVER_NO_CONTEXT_TAKEOVER, CLIENT_NO_CONTEXT_TAKEOVER):
        if flag in params and params[flag] is not True:
            return False
    return SERVER_MAX_WINDOW_BITS not in params or is_window_bits(params[SERVER_MAX_WINDOW_BITS])


def _valid_server_params(offer: Params) -> bool:
    """An offer may send client_max_window_bits bare ("I can limit it") or with 8-15."""
    value = offer.get(CLIENT_MAX_WINDOW_BITS)
    return _valid_common(offer) and (value is None or value is True or is_window_bits(value))


def _valid_client_params(response: Params) -> bool:
    """A response's client_max_window_bits must carry 8-15 (RFC 7692 section 7.1.2.2)."""
    value = response.get(CLIENT_MAX_WINDOW_BITS)
    return _valid_common(response) and (value is None or is_window_bits(value))


class _DeflateSession:
    """The codec shared by both sides, once negotiation has fixed the parameters."""

    def __init__(self, options: _Options) -> None:
        self._options = options
        self._threshold = options.threshold  # read per message: one attribute, not two
        self._max_ratio = options.max_ratio
        self.parameters: DeflateParameters | None = None
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None
        # The latest inflated messages (references, no copies), enough to fill the peer's window:
        # a peer that ends a message with a BFINAL block ends the zlib stream, yet under context
        # takeover its next message may still refer back into that window (RFC 7692 section
        # 7.2.3.4), so the next decompressor starts with this history as its dictionary.
        self._history: deque[bytes] = deque()
        self._history_size = 0
        self._closed = False

    def process_outgoing_message(self, message: Message) -> Message:
        """Compress a text/binary message and set RSV1 (RFC 7692 section 7.2.1).

        Messages shorter than ``threshold``, and any sent after ``close()``, go out
        uncompressed, which RFC 7692 section 6 allows. Runs on the sending thread.
        """
        data = self.deflate(message.data)
        if data is None:
            return message
        # Message(...) rather than dataclasses.replace: replace() costs a tenth of this path
        return Message(message.opcode, data, True, message.rsv2, message.rsv3)

    def deflate(self, data: bytes) -> bytes | None:
        """The payload of one outgoing message compressed (RFC 7692 section 7.2.1), to be sent
        with RSV1 set; None when it goes uncompressed (shorter than ``threshold``, or after
        ``close()``; RFC 7692 section 6 allows both). Runs under the connection's lock.

        Without context takeover (section 7.1.1.1) the message is compressed alone by an idle
        compressor of the same settings (``deflate_alone``), not by one made for it.
        """
        agreed = self.parameters  # _agreed(), without its call: this runs for every message
        if agreed is None:
            agreed = self._agreed()
        if self._closed or len(data) < self._threshold:
            return None
        if not agreed.own_context_takeover:
            options = self._options
            return deflate_alone((options.level, options.mem_level, options.strategy, agreed.own_window_bits),
                                 data)
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = self._new_compressor(agreed)
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        # always true after Z_SYNC_FLUSH; RFC 7692 section 7.2.1 step 3 (deflate_message, inlined)
        return out[: -len(TAIL)] if out.endswith(TAIL) else out

    def process_incoming_message(self, message: Message, max_length: int) -> Message:
        """Inflate a message that has RSV1 set (RFC 7692 section 7.2.2); others pass unchanged.

        Bounds and errors as ``inflate``.
        """
        if self.parameters is None:
            self._agreed()  # raises: used before negotiation completed
        if not message.rsv1:
            return message
        data = self.inflate(message.data, max_length)
        return Message(message.opcode, data, False, message.rsv2, message.rsv3)

    def inflate(self, data: bytes, max_length: int) -> bytes:
        """The payload of a received message whose first frame had RSV1 set, inflated (RFC 7692
        section 7.2.2: the 4-byte tail appended first). Runs on the reading thread.

        Never holds more than ``max_length + 1`` inflated bytes, nor inflates more than
        ``max_ratio`` times the compressed size (at least ``RATIO_FREE_SIZE``). Raises
        MessageTooLarge (1009) when the output would exceed either bound, ProtocolError (1002)
        for data that is not valid DEFLATE, ExtensionError after ``close()``. After an error the
        next message starts a new stream (the failed one's state is dropped).
        """
        agreed = self.parameters  # _agreed(), without its call: this runs for every message
        if agreed is None:
            agreed = self._agreed()
        if self._closed:
            raise ExtensionError(CLOSED)
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = (self._new_decompressor(agreed, self._window_history(agreed)) if self._history
                            else self._new_decompressor(agreed))
        else:
            self._decompressor = None  # on any error below the stream state is unusable
        received = len(data)
        limit = max_length  # min(max_length, max(RATIO_FREE_SIZE, ratio * received)), without calls
        ratio = self._max_ratio
        if ratio is not None:
            bound = ratio * received
            if bound < RATIO_FREE_SIZE:
                bound = RATIO_FREE_SIZE
            if bound < limit:
                limit = bound
        budget = limit + 1 if limit > 0 else 1  # zlib reads a limit of 0 as "unlimited"
        try:
            if received <= JOIN_TAIL_SIZE and type(data) is bytes:  # one zlib call, the usual message
                out = decompressor.decompress(data + TAIL, budget)
            else:  # no copy of a large payload to append 4 bytes (or of a view, which cannot)
                out = decompressor.decompress(data, budget)
                if len(out) < budget:  # all input consumed: the tail's empty block adds no bytes
                    out += decompressor.decompress(TAIL, budget - len(out))
        except zlib.error as error:
            # RFC 7692 section 8 says fail the connection; corrupt DEFLATE data breaks the
            # extension's framing, hence 1002 as for any other malformed frame (websockets does
            # the same). 1007 is for payloads inconsistent with the message type (UTF-8).
            raise ProtocolError(f"{INVALID_DATA}: {error}") from error
        if len(out) > limit:
            if limit < max_length:
                raise MessageTooLarge(TOO_COMPRESSED.format(ratio=ratio))
            raise MessageTooLarge(TOO_LARGE.format(limit=max_length))
        if agreed.peer_context_takeover:
            self._remember(out, agreed)
            if not decompressor.eof:  # after a BFINAL block a new stream starts from the history
                self._decompressor = decompressor
        return out

    def _remember(self, data: bytes, agreed: DeflateParameters) -> None:
        """Keep ``data`` in the history; it is trimmed back to the window only once it holds
        HISTORY_SLACK windows, so that most messages cost an append (trimming per message was
        more than the inflating of a 1 KiB message)."""
        self._history.append(data)
        self._history_size += len(data)
        bits = agreed.peer_window_bits  # max(bits, ZLIB_MIN_WINDOW_BITS), without a call
        window = 1 << (bits if bits > ZLIB_MIN_WINDOW_BITS else ZLIB_MIN_WINDOW_BITS)
        if self._history_size >= HISTORY_SLACK * window:
            history = self._history
            while self._history_size - len(history[0]) >= window:  # the latest message stays
                self._history_size -= len(history.popleft())

    def _window_history(self, agreed: DeflateParameters) -> bytes:
        if not self._history:
            return b""
        window = 1 << max(agreed.peer_window_bits, ZLIB_MIN_WINDOW_BITS)
        return b"".join(self._history)[-window:]

    def close(self) -> None:
        """Release the zlib objects; later compressed messages raise ExtensionError."""
        self._closed = True
        self._compressor = None
        self._decompressor = None
        self._history.clear()

    def _agreed(self) -> DeflateParameters:
        if self.parameters is None:
            raise ExtensionError("permessage-deflate was used before negotiation completed")
        return self.parameters

    def _new_compressor(self, agreed: DeflateParameters) -> zlib._Compress:
        options = self._options
        return new_compressor(options.level, options.mem_level, options.strategy, agreed.own_window_bits)

    def stateless(self) -> StatelessDeflate | None:
        """Our compression as a value, when it depends on the message alone (no context takeover,
        RFC 7692 section 7.1.1.1): equal values compress alike, so a broadcast compresses once
        for every connection that agreed the same. None under context takeover or before
        negotiation completes."""
        agreed = self.parameters
        if agreed is None or agreed.own_context_takeover or self._closed:
            return None
        options = self._options
        return StatelessDeflate(options.level, options.mem_level, options.strategy, agreed.own_window_bits,
                                options.threshold)

    def _new_decompressor(self, agreed: DeflateParameters, history: bytes = b"") -> zlib._Decompress:
        bits = agreed.peer_window_bits  # max(bits, ZLIB_MIN_WINDOW_BITS), without a call per message
        if bits < ZLIB_MIN_WINDOW_BITS:
            bits = ZLIB_MIN_WINDOW_BITS
        return zlib.decompressobj(-bits, zdict=history) if history else zlib.decompressobj(-bits)


def new_compressor(level: int, mem_level: int, strategy: int, window_bits: int) -> zlib._Compress:
    """A raw-deflate compressor for permessage-deflate (RFC 7692 section 7.2.1)."""
    bits = max(window_bits, ZLIB_MIN_WINDOW_BITS)
    return zlib.compressobj(level, zlib.DEFLATED, -bits, mem_level, strategy)


def deflate_message(compressor: zlib._Compress, data: bytes) -> bytes:
    """One message's compressed payload: deflated, sync-flushed, without the 4-byte tail."""
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    if out.endswith(TAIL):  # always true after Z_SYNC_FLUSH; RFC 7692 section 7.2.1 step 3
        out = out[: -len(TAIL)]
    return out


CompressorSettings = tuple[int, int, int, int]
"""``new_compressor``'s arguments: level, memory level, strategy, window bits."""

_idle_compressors: dict[CompressorSettings, list[zlib._Compress]] = {}


def deflate_alone(settings: CompressorSettings, data: bytes) -> bytes:
    """One message's compressed payload with no history (no context takeover, RFC 7692 section
    7.1.1.1): the bytes a new compressor of these ``settings`` makes, without the 4-byte tail.

    A new compressor allocates zlib's state (about 256 KiB at the defaults) and frees it after
    the message; where malloc hands that back to the kernel each time, the page faults cost
    several times the compressing of a 1 KiB message. Instead an idle compressor is
    reused: each message ends with Z_FULL_FLUSH, which writes the same sync marker as
    Z_SYNC_FLUSH and makes zlib forget the history (its hash table is cleared and its position
    reset), so the next message is compressed byte for byte as by a new compressor. Thread-safe
    (a compressor is used by one thread at a time); at most MAX_IDLE_COMPRESSORS stay idle.
    """
    idle = _idle_compressors.get(settings)
    if idle is None:
        idle = _idle_compressors.setdefault(settings, [])
    try:
        compressor = idle.pop()
    except IndexError:
        compressor = new_compressor(*settings)
    out = compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)
    if len(idle) < MAX_IDLE_COMPRESSORS:  # only after success: a failed one's state is unknown
        idle.append(compressor)
    return out[: -len(TAIL)] if out.endswith(TAIL) else out  # RFC 7692 section 7.2.1 step 3


@dataclass(frozen=True)
class StatelessDeflate:
    """permessage-deflate compression without context takeover, as a hashable value.

    ``process_outgoing_message`` compresses each message alone (``deflate_alone``), exactly as
    a session without context takeover does, so its output depends on the message alone; it is
    pure and thread-safe. Used by broadcasts to compress a message once for many connections.
    """

    level: int
    mem_level: int
    strategy: int
    window_bits: int
    threshold: int

    def process_outgoing_message(self, message: Message) -> Message:
        """Compress a message and set RSV1, or leave one shorter than ``threshold`` as it is."""
        if len(message.data) < self.threshold:
            return message
        data = deflate_alone((self.level, self.mem_level, self.strategy, self.window_bits), message.data)
        return Message(message.opcode, data, True, message.rsv2, message.rsv3)


class DeflateClientSession(_DeflateSession):
    """A client's permessage-deflate session: offers the options, then checks the answer."""

    def generate_offer(self) -> Params:
        """The offer (RFC 7692 section 7.1); by default ``client_max_window_bits`` alone."""
        options = self._options
        offer: Params = {}
        if options.no_context_takeover:
            offer[CLIENT_NO_CONTEXT_TAKEOVER] = True
        offer[CLIENT_MAX_WINDOW_BITS] = options.max_window_bits or True
        if options.request_no_context_takeover:
            offer[SERVER_NO_CONTEXT_TAKEOVER] = True
        if options.request_max_window_bits:
            offer[SERVER_MAX_WINDOW_BITS] = options.request_max_window_bits
        return offer

    def activate(self, params: Params) -> bool:
        """Accept the server's response; False (the handshake fails with 1010) when it breaks
        RFC 7692 or ignores what this client required.
        """
        if not _valid_client_params(params):
            return False
        options = self._options
        client_bits = params.get(CLIENT_MAX_WINDOW_BITS, MAX_WINDOW_BITS)
        server_bits = params.get(SERVER_MAX_WINDOW_BITS, MAX_WINDOW_BITS)
        assert isinstance(client_bits, int) and isinstance(server_bits, int)  # checked above
        # Section 7.1.2.2: no client_max_window_bits in the answer lets us use any window.
        if (
            options.max_window_bits
            and CLIENT_MAX_WINDOW_BITS in params
            and client_bits > options.max_window_bits
        ):
            return False
        if options.request_no_context_takeover and SERVER_NO_CONTEXT_TAKEOVER not in params:
            return False
        if options.request_max_window_bits and (
            SERVER_MAX_WINDOW_BITS not in params or server_bits > options.request_max_window_bits
        ):
            return False
        self.parameters = DeflateParameters(
            own_context_takeover=not (options.no_context_takeover or CLIENT_NO_CONTEXT_TAKEOVER in params),
            own_window_bits=min(options.max_window_bits or MAX_WINDOW_BITS, client_bits),
            peer_context_takeover=SERVER_NO_CONTEXT_TAKEOVER not in params,
            peer_window_bits=server_bits,
        )
        return True


class DeflateServerSession(_DeflateSession):
    """A server's permessage-deflate session for one accepted offer (RFC 7692 section 7.1)."""

    def __init__(self, options: _Options, offer: Params) -> None:
        super().__init__(options)
        self._response: Params = {}
        own_takeover = not (options.no_context_takeover or SERVER_NO_CONTEXT_TAKEOVER in offer)
        if not own_takeover:  # section 7.1.1.1
            self._response[SERVER_NO_CONTEXT_TAKEOVER] = True
        peer_takeover = not (options.request_no_context_takeover or CLIENT_NO_CONTEXT_TAKEOVER in offer)
        if not peer_takeover:  # section 7.1.1.2
            self._response[CLIENT_NO_CONTEXT_TAKEOVER] = True
        own_bits = _server_window_bits(options, offer)
        if SERVER_MAX_WINDOW_BITS in offer:
            # Section 7.1.2.1: accepting the parameter means answering it, even with 15 (the
            # original left out 15, which a strict client refuses). Unasked, never answer it:
            # Firefox then fails the connection (permessage-deflate-node 0.1.4).
            self._response[SERVER_MAX_WINDOW_BITS] = own_bits
        peer_bits = _client_window_bits(options, offer)
        if peer_bits < MAX_WINDOW_BITS:  # section 7.1.2.2; only possible if the client offered it
            self._response[CLIENT_MAX_WINDOW_BITS] = peer_bits
        self.parameters = DeflateParameters(own_takeover, own_bits, peer_takeover, peer_bits)

    def generate_response(self) -> Params:
        """The parameters of the accepted offer, for Sec-WebSocket-Extensions."""
        return dict(self._response)


def _server_window_bits(options: _Options, offer: Params) -> int:
    requested = offer.get(SERVER_MAX_WINDOW_BITS, MAX_WINDOW_BITS)
    assert isinstance(requested, int)  # validated by _valid_server_params
    return min(options.max_window_bits or MAX_WINDOW_BITS, requested)


def _client_window_bits(options: _Options, offer: Params) -> int:
    offered = offer.get(CLIENT_MAX_WINDOW_BITS)
    if offered is None:  # the client cannot limit its window: it keeps 15
        return MAX_WINDOW_BITS
    limit = MAX_WINDOW_BITS if offered is True else offered
    assert isinstance(limit, int)  # validated by _valid_server_params
    return min(options.request_max_window_bits or MAX_WINDOW_BITS, limit)
