"""The Driver: state, the byte and event queues, and the operations every protocol version shares.

A driver is fed bytes (``receive_data``, ``receive_eof``) and operations (``send``, ``ping``,
``close``) and hands back events (``events_received``) and bytes to write (``data_to_send``).
Subclasses supply the parser (a generator over a ``StreamReader``) and the wire format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Generator, Iterable, Protocol

from ..errors import HandshakeError, InvalidState, ProtocolError
from ..events import CloseEvent, ErrorEvent, Event, OpenEvent, ReadyState
from ..rfc6455 import CloseCode, Opcode, check_close_reason, check_ping_payload, is_valid_wire_close_code
from .reader import StreamReader

if TYPE_CHECKING:
    from .shared_frames import SharedFraming

DEFAULT_MAX_LENGTH = 2**26 - 1  # faye's default: one byte short of 64 MiB

Parser = Generator[None, None, None]


def truncate_utf8(text: str, limit: int) -> bytes:
    """``text`` as UTF-8, cut to at most ``limit`` bytes without splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return encoded
    return encoded[:limit].decode("utf-8", "ignore").encode("utf-8")


def to_payload(message: str | bytes | bytearray | memoryview) -> bytes:
    """A ping/pong payload from text (UTF-8) or bytes; TypeError for anything else."""
    if isinstance(message, str):
        return message.encode("utf-8")
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message)
    raise TypeError(f"expected str or bytes, got {type(message).__name__}")


class TextAndBinary(Protocol):
    """Anything with the two sending operations ``send_by_type`` chooses between."""

    def text(self, message: str) -> bool: ...

    def binary(self, message: bytes) -> bool: ...


def send_by_type(target: TextAndBinary, data: str | bytes | bytearray | memoryview) -> bool:
    """``target.text`` for str, ``target.binary`` for bytes-like data; TypeError for anything else."""
    if isinstance(data, str):
        return target.text(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return target.binary(bytes(data))
    raise TypeError(f"send() takes str or bytes, not {type(data).__name__}")


class Driver:
    """Base class of every protocol driver; see docs/internals.md for the contract.

    Not thread-safe: the I/O layer serialises calls with its own lock.
    """

    version = "hybi-13"

    def __init__(self, *, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        if not isinstance(max_length, int) or max_length < 0:
            raise ValueError(f"max_length must be a non-negative int, got {max_length!r}")
        self.state = ReadyState.CONNECTING
        self.protocol = ""
        self.max_length = max_length
        self._events: list[Event] = []
        self._chunks: list[bytes] = []
        self._reader = StreamReader()
        self._parser: Parser | None = None
        self._queued: list[Callable[[], bool]] = []
        self._close_event: CloseEvent | None = None

    # -- bytes and events -------------------------------------------------------------------

    @property
    def ready_to_start(self) -> bool:
        """True: a protocol driver has all it needs to start (the server's wrapper may not yet)."""
        return True

    def start(self) -> None:
        """Begin the opening handshake (subclasses write their request or response)."""

    def reject(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Refuse the opening handshake with an HTTP error: only the server side can (InvalidState)."""
        raise InvalidState("only the server side can reject an opening handshake")

    @property
    def held_bytes(self) -> int:
        """Bytes received and kept but not delivered yet (the parser's buffer, and in subclasses
        the fragments of an unfinished message): what the I/O layer charges to its memory budget."""
        return len(self._reader.buffer)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the peer; any split of the stream gives the same events."""
        if self.state is ReadyState.CLOSED or not data:
            return
        self._reader.feed_data(data)
        self._advance()

    def receive_eof(self) -> None:
        """The peer closed its side: a close event 1006 unless the closing handshake completed."""
        if self.state is ReadyState.CLOSED:
            return
        self._reader.feed_eof()
        self._advance()
        self._finish(CloseCode.ABNORMAL_CLOSURE, "", clean=False)

    def events_received(self) -> list[Event]:
        """Events produced since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer since the last call (b"" when there are none)."""
        chunks, self._chunks = self._chunks, []
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)

    def close_expected(self) -> bool:
        """True once the connection is CLOSED and the TCP connection should end."""
        return self.state is ReadyState.CLOSED

    @property
    def close_event(self) -> CloseEvent | None:
        """The close event, once the driver has produced it."""
        return self._close_event

    # -- operations -------------------------------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Send text (str) or binary (bytes-like) data; TypeError for anything else."""
        return send_by_type(self, data)

    def text(self, message: str) -> bool:
        """Send a text message; queued while CONNECTING; False once closing.

        UnicodeEncodeError for text that has no UTF-8 form (lone surrogates), at the call: a
        queued message is encoded now, not when the handshake completes inside receive_data.
        """
        payload = message.encode("utf-8")
        return self._when_open(lambda: self._send_message(Opcode.TEXT, payload))

    def binary(self, message: bytes) -> bool:
        """Send a binary message; queued while CONNECTING (a copy taken now); False once closing."""
        payload = bytes(message)
        return self._when_open(lambda: self._send_message(Opcode.BINARY, payload))

    def ping(self, payload: str | bytes = b"") -> bool:
        """Send a ping (at most 125 bytes, else ValueError); False when not possible."""
        data = check_ping_payload(to_payload(payload))
        return self._when_open(lambda: self._send_ping(data))

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bool:
        """Start the closing handshake; in CONNECTING abort at once. False if already closing."""
        check_close_reason(reason)
        if not is_valid_wire_close_code(code):
            raise ValueError(f"invalid close code: {code}")
        if self.state is ReadyState.CONNECTING:
            self._queued.clear()
            self._finish(code, reason, clean=False)
            return True
        if self.state is not ReadyState.OPEN:
            return False
        self._send_close(code, reason)
        return True

    def shared_framing(self) -> SharedFraming | None:
        """The framing a broadcast may share with other connections (see ``Hybi``); None here."""
        return None

    def abort(self, code: int = CloseCode.ABNORMAL_CLOSURE, reason: str = "") -> None:
        """The I/O layer gave up (timeout, network error): CLOSED now, without a handshake."""
        self._finish(code, reason, clean=False)

    # -- for subclasses ---------------------------------------------------------------------

    def _parse(self) -> Parser:
        """The protocol's parser; runs until it needs more bytes."""
        yield

    def _send_message(self, opcode: Opcode, payload: bytes) -> bool:
        return False

    def _send_ping(self, payload: bytes) -> bool:
        return False

    def _send_close(self, code: int, reason: str) -> None:
        self._finish(code, reason, clean=True)

    def _write(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _when_open(self, operation: Callable[[], bool]) -> bool:
        if self.state is ReadyState.CONNECTING:
            self._queued.append(operation)
            return True
        if self.state is not ReadyState.OPEN:
            return False
        return operation()

    def _open(self) -> None:
        self.state = ReadyState.OPEN
        self._emit(OpenEvent())
        queued, self._queued = self._queued, []
        for operation in queued:
            operation()

    def _advance(self) -> None:
        if self._parser is None:
            self._parser = self._parse()
        try:
            next(self._parser)
        except StopIteration:
            self._parser = _discard()
        except EOFError:
            self._parser = _discard()
        except (ProtocolError, HandshakeError) as error:
            self._parse_failed(error)

    def _parse_failed(self, error: ProtocolError | HandshakeError) -> None:
        """The input broke the protocol: parsing ends for good, and the connection fails."""
        self._stop_parsing()
        self._fail(error)

    def _stop_parsing(self) -> None:
        """Parsing ends for good: later input is ignored. A parser suspended midway is dropped: its
        generator refers back to this driver, a reference cycle only a garbage collection frees."""
        self._parser = _discard()

    def _fail(self, error: ProtocolError | HandshakeError) -> None:
        code = error.code if isinstance(error, ProtocolError) else CloseCode.PROTOCOL_ERROR
        self._emit(ErrorEvent(str(error), error))
        self._finish(code, str(error), clean=False)

    def _finish(self, code: int | None, reason: str, *, clean: bool) -> None:
        if self._close_event is not None:
            return
        self.state = ReadyState.CLOSED
        self._queued.clear()
        self._close_event = CloseEvent(code, reason, clean)
        self._emit(self._close_event)
        self._closed()

    def _closed(self) -> None:
        """Hook: release resources once CLOSED."""


def _discard() -> Parser:
    """The parser after the end: input is ignored."""
    while True:
        yield
