"""RFC 6455 (hybi-13, and the 07/08 drafts it grew from): frames into messages, pings, closing.

The handshake lives in ``server.py`` and ``client.py``; this module is what follows it: message
assembly with fail-fast UTF-8, ``max_length``, automatic pongs, the closing handshake, and
failing the connection with the right close code (RFC 6455 section 7.1.7).
"""

from __future__ import annotations

from typing import Hashable, Protocol, cast

from ..errors import HandshakeError, InvalidPayload, ProtocolError
from ..events import MessageEvent, PingEvent, PongEvent, ReadyState
from ..extensions.base import Message
from ..rfc6455 import MAX_CLOSE_REASON, MAX_CONTROL_PAYLOAD, RSV1_BIT, CloseCode, Opcode
from .base import Driver, Parser, truncate_utf8
from .frames import (
    FIN_BIT,
    LENGTH_16_MARKER,
    LENGTH_64_TOP_BIT,
    LENGTH_BITS,
    MASK_BIT,
    MASK_KEY_LENGTH,
    MAX_LENGTH_7,
    MAX_LENGTH_16,
    MULTIPLY_THRESHOLD,
    OPCODE_BITS,
    TRANSLATE_THRESHOLD,
    Frame,
    FrameRules,
    MaskKeys,
    SendBuffer,
    apply_mask,
    encode_frame,
    frame_head,
    int_from_bytes,
    mask_words,
    masked_frame,
    parse_close_payload,
    parse_frame,
    serialize_close_payload,
)
from .message import NOT_UTF8, MessageAssembler, decode_text
from .payload import LARGE_PAYLOAD, LargePayload
from .shared_frames import SharedFraming, StatelessTransform

# The first header byte of the common frame: FIN set, no RSV bit (RFC 6455 section 5.2).
TEXT_FIRST = FIN_BIT | Opcode.TEXT
BINARY_FIRST = FIN_BIT | Opcode.BINARY
CONTINUATION_FIRSTS = frozenset({Opcode.CONTINUATION, FIN_BIT | Opcode.CONTINUATION})
# A close frame's first header byte: FIN set (RFC 6455 section 5.5: a control frame is never
# fragmented) and no RSV bit (no extension defines one for control frames).
CLOSE_FIRST = FIN_BIT | Opcode.CLOSE
_OPCODES = {int(opcode): opcode for opcode in Opcode}
# Enum members as module names: ``Opcode.TEXT`` goes through EnumType's attribute hook on
# Python 3.11, several times the cost of a global, on paths that run for every message.
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_OPEN = ReadyState.OPEN  # as _TEXT: compared for every message
_CLOSE = Opcode.CLOSE  # as _TEXT: once per connection, on the closing handshake's path
# The two-byte heads of short final frames (7-bit length), by length: indexing a tuple costs
# a third of building ``bytes((first, length))`` per message. Masked heads for a client.
_TEXT_HEADS = tuple(bytes((TEXT_FIRST, n)) for n in range(MAX_LENGTH_7 + 1))
_BINARY_HEADS = tuple(bytes((BINARY_FIRST, n)) for n in range(MAX_LENGTH_7 + 1))
_MASKED_TEXT_HEADS = tuple(bytes((TEXT_FIRST, MASK_BIT | n)) for n in range(MAX_LENGTH_7 + 1))
_MASKED_BINARY_HEADS = tuple(bytes((BINARY_FIRST, MASK_BIT | n)) for n in range(MAX_LENGTH_7 + 1))
# Each opcode's handler method, by name (looked up per frame, so a subclass may override one;
# a table of bound methods per connection cost more to build than the few lookups it saved).
_HANDLERS = {
    Opcode.CONTINUATION: "_on_continuation",
    Opcode.TEXT: "_on_data",
    Opcode.BINARY: "_on_data",
    Opcode.CLOSE: "_on_close",
    Opcode.PING: "_on_ping",
    Opcode.PONG: "_on_pong",
}
# Unmasked payloads longer than this are cut out of the read buffer through a memoryview (one
# copy, not two); shorter ones by slicing, which costs less than making the view. Masked ones
# are sliced: the strided copies of masking run several times faster on bytes than on a view.
COPY_THROUGH_VIEW = 4096
SHORT_KEY_REPEAT = 32  # a masking key repeated this often covers a 7-bit length (125 bytes)


class ExtensionPipeline(Protocol):
    """The part of ``extensions.negotiation.Extensions`` a hybi driver uses after the handshake."""

    @property
    def has_sessions(self) -> bool: ...

    def valid_frame_rsv(self, opcode: Opcode, rsv1: bool, rsv2: bool, rsv3: bool) -> bool: ...

    def process_incoming_message(self, message: Message, max_length: int) -> Message: ...

    def process_outgoing_message(self, message: Message) -> Message: ...

    def incoming_payload(self, opcode: Opcode, payload: bytes, rsv1: bool, max_length: int) -> bytes: ...

    def outgoing_payload(self, opcode: Opcode, payload: bytes) -> tuple[int, bytes]: ...

    def stateless_transforms(self) -> tuple[Hashable, ...] | None: ...

    def close(self) -> None: ...


class Hybi(Driver):
    """Frames and messages of RFC 6455 for either side of the connection.

    ``mask_outgoing`` is True on the client (RFC 6455 section 5.3); the server requires masked
    frames and the client refuses them (section 5.1).
    """

    def __init__(
        self, extensions: ExtensionPipeline, *, mask_outgoing: bool, max_length: int, version: str
    ) -> None:
        super().__init__(max_length=max_length)
        self.version = version
        self._extensions = extensions
        self._mask = mask_outgoing
        self._rules = FrameRules(
            require_masking=not mask_outgoing,
            forbid_masking=mask_outgoing,
            max_length=max_length,
            rsv_allowed=extensions.valid_frame_rsv,
        )
        self._message: MessageAssembler | None = None
        self._keys = MaskKeys() if mask_outgoing else None
        self._send_buffer = SendBuffer()  # large masked frames (frame_to_write); empty until one
        # True once OPEN without an extension session: messages skip the extension pipeline.
        self._plain = False
        self._common_firsts: frozenset[int] = frozenset()  # first header bytes _common_frames takes
        # True while the parser waits at a frame boundary for a common frame (see _frames): bytes
        # fed then may go straight to _common_frames (take_messages), skipping the generator.
        self._at_boundary = False
        self._fragment_firsts: frozenset[int] = frozenset()  # ... for fragments

    @property
    def held_bytes(self) -> int:
        """The parser's buffer, the fragments of the unfinished message and the buffer of a large
        payload on its way (see Driver)."""
        message = self._message
        payload = self._reader.payload
        return (len(self._reader.buffer) + (message.length if message is not None else 0)
                + (payload.held if payload is not None else 0))

    # -- incoming ---------------------------------------------------------------------------

    def _frames(self) -> Parser:
        """Parse frames until the closing handshake completes."""
        reader = self._reader
        self._at_boundary = False  # set again only while waiting at the yield below
        while self.state is not ReadyState.CLOSED:
            if self.state is _OPEN or reader.payload is not None:
                messages: list[str | bytes] = []
                try:
                    wait = self._common_frames(messages)
                finally:  # taken before a failing frame: delivered before its error
                    if messages:
                        self._events.extend(map(MessageEvent, messages))
                if wait:
                    if reader.eof:
                        raise EOFError("stream ended")
                    self._at_boundary = True
                    yield  # a common frame is incomplete: wait for more bytes, then look again
                    self._at_boundary = False
                    continue
            held = self._message.length if self._message else 0
            frame = yield from parse_frame(reader.read_exact, self._rules, held)
            getattr(self, _HANDLERS[frame.opcode])(frame)

    def take_messages(self, data: bytes) -> list[str | bytes] | tuple[str | bytes] | None:
        """Feed ``data``; the messages it completes when they are all there is to it, else None.

        The receiving fast lane of the I/O layer's reading thread: when the parser waits at a
        frame boundary while OPEN and ``data`` holds only common frames (see ``_common_frames``,
        which makes every check ``parse_frame`` makes), their messages come back (text as str,
        binary as bytes; possibly none, with a frame left incomplete) and nothing else happened:
        no event and no byte to send. A tuple (of one message) says ``data`` was exactly one
        whole frame, so that this driver holds nothing after it (``held_bytes`` is 0); a list
        says nothing about what is held. Otherwise it does what ``receive_data`` does, events and
        bytes wait in ``events_received``/``data_to_send`` (messages taken first among them, in
        order), and it returns None.
        """
        if not self._at_boundary or self.state is not _OPEN or self._events or self._chunks:
            self.receive_data(data)
            return None
        reader = self._reader
        size = len(data)
        if (reader.payload is not None or reader.buffer or self._message is not None
                or type(data) is not bytes or size < 2):
            return self._take_buffered(data)
        # The common read, taken without the parser's buffer: ``data`` is exactly one whole common
        # frame with a 7- or 16-bit length. Anything else, or a frame failing a check, is buffered
        # and left to ``_common_frames`` or ``parse_frame``, as for any read. The checks are those
        # of ``_common_frames``: the first byte (FIN, the opcode, only RSV bits the extensions
        # claim), masking as this side requires (RFC 6455 section 5.1), the length within
        # ``max_length`` (section 10.4), and UTF-8 for text (section 8.1).
        second = data[1]
        length = second & LENGTH_BITS
        masked = self._rules.require_masking
        start = 2 + MASK_KEY_LENGTH if masked else 2
        if length > MAX_LENGTH_7:
            if length != LENGTH_16_MARKER or size < 4:
                return self._take_buffered(data)
            length = int_from_bytes(data[2:4], "big")
            start += 2
        first = data[0]
        if (size != start + length or length >= TRANSLATE_THRESHOLD or first not in self._common_firsts
                or second & MASK_BIT != (MASK_BIT if masked else 0) or length > self.max_length):
            return self._take_buffered(data)
        if masked and length < MULTIPLY_THRESHOLD:  # the small-payload integer XOR of _common_frames
            key = data[start - MASK_KEY_LENGTH : start] * (length // MASK_KEY_LENGTH + 1)
            payload = (int_from_bytes(data[start:], "little")
                       ^ int_from_bytes(key[:length], "little")).to_bytes(length, "little")
        elif masked:
            payload = mask_words(data[start:], data[start - MASK_KEY_LENGTH : start], length)
        else:
            payload = data[start:]
        if not self._plain:
            try:
                return (self._through_extensions(first, payload),)
            except (ProtocolError, HandshakeError) as error:  # as _take_buffered does
                self._at_boundary = False
                self._parse_failed(error)  # the error and close are queued, as from _advance
                return None
        if first != TEXT_FIRST:
            return (payload,)
        try:
            # UTF-8 (strict) is decode()'s default: without the argument no codec name is looked
            # up, about 200 instructions per message (so in _common_frames and frame_message).
            return (payload.decode(),)
        except UnicodeDecodeError:
            return self._take_buffered(data)  # parse_frame fails the connection with 1007

    def _take_buffered(self, data: bytes) -> list[str | bytes] | None:
        """take_messages for a read that is not one whole common frame: through the parser's
        buffer (or the buffer of a large payload on its way)."""
        reader = self._reader
        if data[0] == CLOSE_FIRST and not reader.buffer and reader.payload is None and self._take_close(data):
            return None
        if reader.payload is not None:
            reader.feed_data(data)
        else:
            reader.buffer += data
        messages: list[str | bytes] = []
        try:
            wait = self._common_frames(messages)
        except (ProtocolError, HandshakeError) as error:  # as _advance does for the generator
            self._events.extend(map(MessageEvent, messages))
            self._at_boundary = False
            self._parse_failed(error)
            return None
        if wait and not self._events:
            return messages
        # A fragment made events, or the next frame is another kind: the generator goes on.
        self._events.extend(map(MessageEvent, messages))
        if not wait:
            self._advance()
        return None

    def _common_frames(self, messages: list[str | bytes]) -> bool:
        """Take every complete common frame at the head of the buffer; True when the next one is
        common but incomplete, False when it is another kind (``parse_frame`` takes it then).
        Whole messages are appended to ``messages`` (the caller makes them events).

        The common frame: a text or binary frame (no RSV bit but those the negotiated
        extensions claim) or a continuation frame (no RSV bit), masked as this side requires
        (RFC 6455 section 5.1), with a length the message may still take (``max_length``,
        section 10.4). A whole message in one frame is delivered here; a fragment goes to the
        same handlers as from ``parse_frame`` (which raise what section 5.4 calls for). Control
        frames and any frame that fails a check are left to ``parse_frame``, which raises the
        error that check calls for, so no check is skipped; a whole text message that is not
        UTF-8 is left to it as well, or, once an extension has transformed it, fails here as
        there (InvalidPayload, 1007).
        """
        if self._reader.payload is not None:  # a large payload first (driver/payload.py)
            if not self._take_large(messages):
                return True
            if self.state is not _OPEN:
                return False  # closing: parse_frame takes what follows
        buf = self._reader.buffer
        size = len(buf)
        pos = 0
        masked = MASK_BIT if self._rules.require_masking else 0
        key_length = MASK_KEY_LENGTH if masked else 0
        firsts = self._common_firsts
        fragment_firsts = self._fragment_firsts
        append = messages.append
        wait = False
        while True:
            if size - pos < 2:
                wait = True
                break
            first = buf[pos]
            second = buf[pos + 1]
            whole = first in firsts and self._message is None
            if not (whole or first in fragment_firsts) or second & MASK_BIT != masked:
                break
            length = second & 0x7F
            start = pos + 2
            if length > MAX_LENGTH_7:
                extra = 2 if length == LENGTH_16_MARKER else 8
                if size - pos < 2 + extra:
                    wait = True
                    break
                length = int_from_bytes(buf[start : start + extra], "big")
                if length & LENGTH_64_TOP_BIT:
                    break
                start += extra
            held = self._message.length if self._message is not None else 0
            if held + length > self.max_length:
                break
            end = start + key_length + length
            if end > size:
                if whole and length >= LARGE_PAYLOAD:
                    # Its checks are made (the ones above): the rest of it is received apart.
                    mask_key = bytes(buf[start : start + key_length]) if masked else None
                    with memoryview(buf) as view, view[start + key_length : size] as partial:
                        self._reader.payload = LargePayload(first, length, mask_key, partial)
                    pos = size
                wait = True
                break
            if masked:
                if length < MULTIPLY_THRESHOLD:
                    # mask_buffer's integer XOR, inlined: two calls per message on the hot path
                    key = buf[start : start + MASK_KEY_LENGTH] * (length // MASK_KEY_LENGTH + 1)
                    payload = (int_from_bytes(buf[start + MASK_KEY_LENGTH : end], "little")
                               ^ int_from_bytes(key[:length], "little")).to_bytes(length, "little")
                elif length < TRANSLATE_THRESHOLD:
                    key_start = start + MASK_KEY_LENGTH
                    payload = mask_words(buf[key_start:end], buf[start:key_start], length)
                else:
                    key_bytes = bytes(buf[start : start + MASK_KEY_LENGTH])
                    payload = apply_mask(buf[start + MASK_KEY_LENGTH : end], key_bytes)
            elif length > COPY_THROUGH_VIEW:
                with memoryview(buf) as view:  # one copy of a large payload, not two
                    payload = view[start:end].tobytes()
            else:
                payload = bytes(buf[start:end])
            if not whole:
                pos = end  # a fragment: the assembler's state moves on, its errors end the parsing
                if messages:  # the messages before it come first
                    self._events.extend(map(MessageEvent, messages))
                    messages.clear()
                self._on_fragment(first, payload)
                continue
            if not self._plain:
                pos = end  # taken: the extension's state moves on, and its errors end the parsing
                append(self._through_extensions(first, payload))
                continue
            if first == TEXT_FIRST:
                try:
                    append(payload.decode())  # UTF-8, strict
                except UnicodeDecodeError:
                    break  # parse_frame fails the connection with 1007
            else:
                append(payload)
            pos = end
        if pos:
            del buf[:pos]
        return wait

    def _take_close(self, data: bytes) -> bool:
        """take_messages for a read that is exactly one whole close frame (the peer starting the
        closing handshake): ``_on_close`` without the parser's generator; False (nothing done)
        for any other read. The checks are ``parse_frame``'s for this frame: the first byte is
        ``CLOSE_FIRST`` (FIN set, no RSV bit; the caller tests it), masking as this side
        requires (RFC 6455 section 5.1), a payload of at most 125 bytes (section 5.5); then
        ``parse_close_payload``'s of the code (section 7.4) and of the reason's UTF-8. A frame
        failing one of them fails the connection as from ``_advance``.
        """
        size = len(data)
        if size < 2:
            return False
        second = data[1]
        length = second & LENGTH_BITS
        masked = self._rules.require_masking
        start = 2 + MASK_KEY_LENGTH if masked else 2
        if (size != start + length or length > MAX_CONTROL_PAYLOAD
                or second & MASK_BIT != (MASK_BIT if masked else 0)):
            return False
        payload = apply_mask(data[start:], data[2:start]) if masked else data[start:]
        self._at_boundary = False  # parsing ends here, whatever the frame holds
        try:
            self._close_received(payload)
        except (ProtocolError, HandshakeError) as error:
            self._parse_failed(error)
            return True
        if self._parser is not None:  # a server's first read finds none: nothing to drop
            self._stop_parsing()
        return True

    def _take_large(self, messages: list[str | bytes]) -> bool:
        """The large payload's message, once complete, to ``messages`` (not once closing: RFC 6455
        section 7.1.6); False while bytes are missing. InvalidPayload (1007) for text that is not
        UTF-8, as ``parse_frame``'s path raises it."""
        reader = self._reader
        large = reader.payload
        assert large is not None
        if not large.complete:
            return False
        reader.payload = None
        first = large.first
        data: str | bytes
        if not self._plain:
            data = self._through_extensions(first, large.take_bytes())
        elif first & OPCODE_BITS == _TEXT:
            try:
                data = large.take_text()
            except UnicodeDecodeError:
                raise InvalidPayload(NOT_UTF8) from None
        else:
            data = large.take_bytes()
        if self.state is _OPEN:
            messages.append(data)
        return True

    def receive_buffer(self) -> memoryview | None:
        """Where the I/O layer may read the next bytes in place (``socket.recv_into``): the rest
        of a large payload, or None (then it reads and calls ``receive_data`` as usual). Call
        ``received_into`` with the count once read; release the view before any other call."""
        payload = self._reader.payload
        if payload is None or payload.complete or self.state is ReadyState.CLOSED:
            return None
        return payload.writable()

    def received_into(self, count: int) -> None:
        """``count`` bytes were read into ``receive_buffer()``; parsing goes on once the payload
        is complete (events and bytes to send as after ``receive_data``)."""
        payload = self._reader.payload
        if payload is None or not count:
            return
        payload.wrote(count)
        if payload.complete:
            self._advance()

    def _on_fragment(self, first: int, payload: bytes) -> None:
        frame = Frame(bool(first & FIN_BIT), _OPCODES[first & OPCODE_BITS], payload, bool(first & RSV1_BIT))
        getattr(self, _HANDLERS[frame.opcode])(frame)

    def _through_extensions(self, first: int, payload: bytes) -> str | bytes:
        rsv1 = bool(first & RSV1_BIT)
        if first & OPCODE_BITS != _TEXT:
            return self._extensions.incoming_payload(_BINARY, payload, rsv1, self.max_length)
        data = self._extensions.incoming_payload(_TEXT, payload, rsv1, self.max_length)
        try:  # decode_text, inlined: one call fewer per message
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPayload(NOT_UTF8) from None

    def _on_data(self, frame: Frame) -> None:
        if self._message is not None:
            raise ProtocolError("Received new data frame but previous continuous frame is unfinished")
        if frame.fin and not self._extensions.has_sessions:
            # The common case, a message in one frame with nothing to transform: no assembly.
            self._emit_message(decode_text(frame.payload) if frame.opcode is Opcode.TEXT else frame.payload)
            return
        self._message = MessageAssembler(frame, decode=not self._extensions.has_sessions)
        self._add_fragment(frame)

    def _on_continuation(self, frame: Frame) -> None:
        if self._message is None:
            raise ProtocolError("Received unexpected continuation frame")
        self._add_fragment(frame)

    def _add_fragment(self, frame: Frame) -> None:
        assert self._message is not None
        self._message.add(frame.payload, frame.fin)
        if frame.fin:
            message, self._message = self._message, None
            self._deliver(message)

    def _deliver(self, message: MessageAssembler) -> None:
        self._emit_message(message.text() if message.decoded else self._incoming_payload(message))

    def _emit_message(self, data: str | bytes) -> None:
        # RFC 6455 section 7.1.6 / WHATWG: once our close frame is sent, data is no longer delivered.
        if self.state is _OPEN:
            self._emit(MessageEvent(data))

    def _incoming_payload(self, assembled: MessageAssembler) -> str | bytes:
        raw = assembled.data()
        if self._extensions.has_sessions:
            rsv1, rsv2, rsv3 = assembled.rsv
            message = Message(assembled.opcode, raw, rsv1, rsv2, rsv3)
            raw = self._extensions.process_incoming_message(message, self.max_length).data
        return decode_text(raw) if assembled.opcode is Opcode.TEXT else raw

    def _on_ping(self, frame: Frame) -> None:
        # RFC 6455 section 5.5.2: a ping MUST be answered "unless it already received a Close
        # frame"; our own close frame (CLOSING) does not lift that duty. A received close
        # ends parsing, so any ping seen here is answered.
        if self.state in (ReadyState.OPEN, ReadyState.CLOSING):
            self._write_frame(Opcode.PONG, frame.payload)
        self._emit(PingEvent(frame.payload))

    def _on_pong(self, frame: Frame) -> None:
        self._emit(PongEvent(frame.payload))

    def _on_close(self, frame: Frame) -> None:
        self._close_received(frame.payload)

    def _close_received(self, payload: bytes) -> None:
        """The peer's close frame (its unmasked payload): echo it while OPEN, then CLOSED."""
        code, reason = parse_close_payload(payload)
        if self.state is _OPEN:
            # RFC 6455 section 5.5.1: answer with a close frame, typically echoing the code. The
            # payload is the echo of code and reason: parse_close_payload took it whole (the
            # reason strict UTF-8, which encodes back to the same bytes), and an empty one
            # (1005, no code) is echoed empty.
            self._write_frame(_CLOSE, payload)
        self._finish(code, reason, clean=True)

    # -- outgoing ---------------------------------------------------------------------------

    def _write_frame(self, opcode: Opcode, payload: bytes) -> None:
        """A control frame, or a data message that no extension transforms, framed and queued."""
        key = self._keys.next() if self._keys is not None else None
        self._write(encode_frame(FIN_BIT | opcode, payload, key))

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Send text (str) or binary (bytes-like) data; the common message is framed at once."""
        if self.state is _OPEN:
            common = _common_message(data)
            if common is None:
                return super().send(data)
            first, payload = common
            if not self._plain:
                return self._send_message(_OPCODES[first & OPCODE_BITS], payload)
            key = self._keys.next() if self._keys is not None else None
            self._chunks.append(encode_frame(first, payload, key))
            return True
        return super().send(data)

    def frame_message(
        self, data: str | bytes | bytearray | memoryview, *, reuse: bool = False
    ) -> bytes | bytearray | memoryview | None:
        """The frame ``send(data)`` would queue, returned instead: OPEN, ``str`` or ``bytes`` data.
        None otherwise (``send`` then does the work), and None when an extension fails on the
        message (the connection is failed then: its close frame and events wait in
        ``data_to_send``/``events_received``, and ``send`` returns False). The I/O layer's fast
        lane for a message: one call instead of ``send`` plus ``data_to_send`` (under its lock,
        as every driver call). Framing moves no state but the masking key pool and the
        extensions' (a compressor's context): the caller writes every frame it gets, in order.

        With ``reuse`` (a caller that writes the frame before it asks for the next one) a large
        client frame is a view of a buffer this driver masks every large frame into, so no
        payload-sized buffer is mapped and faulted in afresh per message.
        """
        if self.state is not _OPEN:
            return None
        kind = type(data)  # _common_message, inlined: one call fewer per message
        if kind is str:
            first = TEXT_FIRST
            heads, masked_heads = _TEXT_HEADS, _MASKED_TEXT_HEADS
            payload = data.encode()  # type: ignore[union-attr]  # UTF-8, strict: the default
        elif kind is bytes:
            first = BINARY_FIRST
            heads, masked_heads = _BINARY_HEADS, _MASKED_BINARY_HEADS
            payload = data
        else:
            return None
        if not self._plain:
            return self._extension_frame(_OPCODES[first & OPCODE_BITS], payload)
        length = len(payload)
        keys = self._keys
        if keys is None:  # encode_frame's unmasked cases, inlined for the common reply
            if length <= MAX_LENGTH_7:
                return heads[length] + payload
            if length <= MAX_LENGTH_16:
                return bytes((first, LENGTH_16_MARKER, length >> 8, length & 0xFF)) + payload
            return encode_frame(first, payload, None)
        key = keys.next()  # a client's frame (RFC 6455 section 5.3)
        if length <= MAX_LENGTH_7:  # encode_frame's masked case, inlined for the common message
            repeated = (key * SHORT_KEY_REPEAT)[:length]
            masked = int_from_bytes(payload, "little") ^ int_from_bytes(repeated, "little")
            return masked_heads[length] + key + masked.to_bytes(length, "little")
        if length >= TRANSLATE_THRESHOLD:  # masked straight into the frame, which is returned as is
            head = frame_head(first, MASK_BIT, length) + key
            if reuse:
                return self._send_buffer.frame(head, payload, key)
            return masked_frame(head, payload, key)
        return encode_frame(first, payload, key)

    def frame_to_write(
        self, data: str | bytes | bytearray | memoryview
    ) -> bytes | bytearray | memoryview | None:
        """``frame_message(data, reuse=True)``: for a caller that writes each frame before it
        asks for the next one (the I/O layer's sender, holding its write lock)."""
        return self.frame_message(data, reuse=True)

    def _open(self) -> None:
        self._plain = not self._extensions.has_sessions
        if self._plain:  # no extension, no RSV bit: the sets of every such connection
            self._common_firsts, self._fragment_firsts = _PLAIN_FIRSTS
        else:
            self._common_firsts, self._fragment_firsts = _frame_firsts(
                self._extensions.valid_frame_rsv(Opcode.TEXT, True, False, False))
        super()._open()

    def _send_message(self, opcode: Opcode, payload: bytes) -> bool:
        if not self._extensions.has_sessions:
            self._write_frame(opcode, payload)
            return True
        frame = self._extension_frame(opcode, payload)
        if frame is None:
            return False
        self._write(frame)
        return True

    def _extension_frame(self, opcode: Opcode, payload: bytes) -> bytes | None:
        """A message through the extensions (permessage-deflate), framed with the RSV bits they
        set; None when one failed: the connection is failed then (close frame and events queued)."""
        try:
            flags, data = self._extensions.outgoing_payload(opcode, payload)
        except ProtocolError as error:
            self._fail(error)
            return None
        return encode_frame(FIN_BIT | flags, data, self._keys.next() if self._keys is not None else None)

    def shared_framing(self) -> SharedFraming | None:
        """How ``send`` frames a message, as a value shared by every connection that frames
        alike (a broadcast frames once per value); None on the client (a fresh mask per frame)
        or when an extension's output depends on earlier messages."""
        if self._mask:
            return None
        if self._plain:  # no session: the value every plain server connection shares
            return _PLAIN_FRAMING
        transforms = self._extensions.stateless_transforms()
        if transforms is None:
            return None
        return SharedFraming(cast("tuple[StatelessTransform, ...]", transforms))

    def _send_ping(self, payload: bytes) -> bool:
        self._write_frame(Opcode.PING, payload)
        return True

    def _send_close(self, code: int, reason: str) -> None:
        self.state = ReadyState.CLOSING
        self._write_frame(Opcode.CLOSE, serialize_close_payload(code, reason))

    def _fail(self, error: Exception) -> None:
        # RFC 6455 section 7.1.7: send a close frame with the reason (if we still may), then close.
        code = error.code if isinstance(error, ProtocolError) else CloseCode.PROTOCOL_ERROR
        if self.state is ReadyState.OPEN:
            reason = truncate_utf8(str(error), MAX_CLOSE_REASON).decode("utf-8")
            self._write_frame(Opcode.CLOSE, serialize_close_payload(code, reason))
        super()._fail(error)  # type: ignore[arg-type]

    def _closed(self) -> None:
        self._message = None
        self._reader.payload = None
        if self._plain and not self._mask:
            return  # a server that negotiated nothing holds no extension session to close
        try:
            self._extensions.close()
        except Exception:  # a user's extension failing to clean up
            # The close event is already out; raising now would escape receive_data/close/abort
            # and lose it. Every session has been asked to close (Extensions.close goes on).
            pass


def _frame_firsts(rsv1: bool) -> tuple[frozenset[int], frozenset[int]]:
    """The first header bytes of the common frame (a whole text or binary message) and of a
    fragment, with or without RSV1 on a message's first frame (``rsv1``: permessage-deflate's bit)."""
    firsts = {TEXT_FIRST, BINARY_FIRST}
    if rsv1:
        firsts |= {TEXT_FIRST | RSV1_BIT, BINARY_FIRST | RSV1_BIT}
    common = frozenset(firsts)
    # A message's first fragment (FIN clear, the same RSV bits) or a continuation (no RSV
    # bit, FIN either way: RFC 7692 section 6.1 sets RSV1 on the first frame only).
    firsts |= {first & ~FIN_BIT for first in firsts}
    return common, frozenset(firsts - common) | CONTINUATION_FIRSTS


_PLAIN_FIRSTS = _frame_firsts(rsv1=False)
_PLAIN_FRAMING = SharedFraming()  # frozen: one value for every server connection without extensions


def _common_message(data: str | bytes | bytearray | memoryview) -> tuple[int, bytes] | None:
    """(first header byte, payload) of an unfragmented text (``str``) or binary (``bytes``)
    message; None for other buffer types, which the general path copies first."""
    kind = type(data)
    if kind is str:
        return TEXT_FIRST, data.encode("utf-8")  # type: ignore[union-attr]
    if kind is bytes:
        return BINARY_FIRST, data  # type: ignore[return-value]
    return None
