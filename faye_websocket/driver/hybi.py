"""RFC 6455 (hybi-13, and the 07/08 drafts it grew from): frames into messages, pings, closing.

The handshake lives in ``server.py`` and ``client.py``; this module is what follows it: message
assembly with fail-fast UTF-8, ``max_length``, automatic pongs, the closing handshake, and
failing the connection with the right close code (RFC 6455 section 7.1.7).
"""

from __future__ import annotations

from typing import Callable, Hashable, Protocol, cast

from ..errors import ProtocolError
from ..events import MessageEvent, PingEvent, PongEvent, ReadyState
from ..extensions.base import Message
from ..rfc6455 import MAX_CLOSE_REASON, CloseCode, Opcode
from .base import Driver, Parser, truncate_utf8
from .frames import (
    Frame,
    FrameRules,
    parse_close_payload,
    parse_frame,
    serialize_close_payload,
    serialize_frame,
)
from .message import MessageAssembler, decode_text
from .shared_frames import SharedFraming, StatelessTransform

Rsv = tuple[bool, bool, bool]
NO_RSV: Rsv = (False, False, False)


class ExtensionPipeline(Protocol):
    """The part of ``extensions.negotiation.Extensions`` a hybi driver uses after the handshake."""

    @property
    def has_sessions(self) -> bool: ...

    def valid_frame_rsv(self, opcode: Opcode, rsv1: bool, rsv2: bool, rsv3: bool) -> bool: ...

    def process_incoming_message(self, message: Message, max_length: int) -> Message: ...

    def process_outgoing_message(self, message: Message) -> Message: ...

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
        self._handlers: dict[Opcode, Callable[[Frame], None]] = {
            Opcode.CONTINUATION: self._on_continuation,
            Opcode.TEXT: self._on_data,
            Opcode.BINARY: self._on_data,
            Opcode.CLOSE: self._on_close,
            Opcode.PING: self._on_ping,
            Opcode.PONG: self._on_pong,
        }

    # -- incoming ---------------------------------------------------------------------------

    def _frames(self) -> Parser:
        """Parse frames until the closing handshake completes."""
        while self.state is not ReadyState.CLOSED:
            held = self._message.length if self._message else 0
            frame = yield from parse_frame(self._reader.read_exact, self._rules, held)
            self._handlers[frame.opcode](frame)

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
        if self.state is ReadyState.OPEN:
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
        code, reason = parse_close_payload(frame.payload)
        if self.state is ReadyState.OPEN:
            # RFC 6455 section 5.5.1: answer with a close frame, typically echoing the code.
            echo = None if code == CloseCode.NO_STATUS_RECEIVED else code
            self._write_frame(Opcode.CLOSE, serialize_close_payload(echo, reason))
        self._finish(code, reason, clean=True)

    # -- outgoing ---------------------------------------------------------------------------

    def _write_frame(self, opcode: Opcode, payload: bytes, rsv: Rsv = NO_RSV) -> None:
        frame = Frame(True, opcode, payload, *rsv)
        self._write(serialize_frame(frame, mask=self._mask))

    def _send_message(self, opcode: Opcode, payload: bytes) -> bool:
        if not self._extensions.has_sessions:
            self._write_frame(opcode, payload)
            return True
        try:
            message = self._extensions.process_outgoing_message(Message(opcode, payload))
        except ProtocolError as error:
            self._fail(error)
            return False
        self._write_frame(message.opcode, message.data, (message.rsv1, message.rsv2, message.rsv3))
        return True

    def shared_framing(self) -> SharedFraming | None:
        """How ``send`` frames a message, as a value shared by every connection that frames
        alike (a broadcast frames once per value); None on the client (a fresh mask per frame)
        or when an extension's output depends on earlier messages."""
        if self._mask:
            return None
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
        try:
            self._extensions.close()
        except Exception:  # a user's extension failing to clean up
            # The close event is already out; raising now would escape receive_data/close/abort
            # and lose it. Every session has been asked to close (Extensions.close goes on).
            pass
