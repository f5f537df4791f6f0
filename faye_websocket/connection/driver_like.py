"""What the I/O layer needs of a sans-I/O driver (``DriverLike``), and the callables it is given."""

from __future__ import annotations

from typing import Callable, Protocol

from ..events import CloseEvent, Event, ReadyState
from ..rfc6455 import CloseCode


class DriverLike(Protocol):
    """The part of the driver contract (docs/internals.md) the I/O layer uses."""

    @property
    def state(self) -> ReadyState:
        """CONNECTING, OPEN, CLOSING or CLOSED."""

    @property
    def close_event(self) -> CloseEvent | None:
        """The close event once the driver has produced it."""

    @property
    def ready_to_start(self) -> bool:
        """False while a server still waits for the request head."""

    def start(self) -> None:
        """Queue the request head (client) or the response (server)."""

    def reject(self, status: int, message: str) -> None:
        """Answer the opening handshake with an HTTP error instead (server side only)."""

    @property
    def held_bytes(self) -> int:
        """Bytes received and not delivered yet (charged to the memory budget)."""

    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer."""

    def receive_eof(self) -> None:
        """The peer closed its side."""

    def events_received(self) -> list[Event]:
        """Events since the last call."""

    def data_to_send(self) -> bytes:
        """Bytes to write since the last call."""

    def close_expected(self) -> bool:
        """True once TCP should end."""

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Queue a message."""

    def ping(self, payload: str | bytes = b"") -> bool:
        """Queue a ping; False when impossible."""

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bool:
        """Start the closing handshake."""

    def abort(self, code: int = CloseCode.ABNORMAL_CLOSURE, reason: str = "") -> None:
        """CLOSED now, without a handshake."""


EventCallback = Callable[[Event], None]
# The driver's frame_message / frame_to_write: a message framed in one call, or None.
FrameMaker = Callable[[str | bytes | bytearray | memoryview], bytes | bytearray | memoryview | None]
StartHook = Callable[[], "tuple[int, str] | None"]
