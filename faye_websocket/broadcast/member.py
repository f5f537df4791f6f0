"""One member of the broadcast: its connection, its bounded backlog and its place in the writer.

A member is a WebSocket (server or client side) or an EventSource stream. Whatever groups it is
in, it has one ``Member`` (so its messages keep one order and its backlog one bound), reached
through a small ``Sink`` that knows how to write to that kind of connection without waiting:
``Connection.write_nowait`` and ``EventSource.write_nowait``.

Backlog items are a frame shared with other members (bytes), a message this member must frame
itself (``OwnFrame``: extensions that remember earlier messages, or a client's masking), or a
close (``CloseItem``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, Union

from ..api import WebSocketAPI
from ..connection.nowait import WriteNowait
from ..driver.shared_frames import SharedFraming
from ..events import ReadyState
from ..eventsource.writer import EventSource


@dataclass(frozen=True)
class OwnFrame:
    """A message framed by the member's own driver when it is written (no shared frame fits)."""

    data: str | bytes


@dataclass(frozen=True)
class CloseItem:
    """Close the member (after what is already written): ``code`` and ``reason`` as in close()."""

    code: int
    reason: str


Item = Union[bytes, OwnFrame, CloseItem]

SSE_FRAMING = "text/event-stream"
"""The framing key of EventSource members: one ``data:`` event serves them all."""

Framing = Union[SharedFraming, str, None]


class Sink(Protocol):
    """How the writer reaches one kind of connection; every method runs on the writer thread
    (``framing`` and ``is_open`` also on publishing threads) and none may block."""

    def framing(self) -> Framing:
        """The member's framing key: a SharedFraming, SSE_FRAMING, or None (frames its own)."""

    def is_open(self) -> bool:
        """True while messages may be queued for the member."""

    def write(self, item: Item | None) -> WriteNowait:
        """One write turn for ``item`` (None: finish the bytes of an earlier turn)."""

    def fileno(self) -> int:
        """The descriptor to wait on for room (POLLOUT), -1 if there is none any more."""


class WebSocketSink:
    """A WebSocket member, through its connection's ``write_nowait``."""

    def __init__(self, websocket: WebSocketAPI) -> None:
        self._connection = websocket.connection

    def framing(self) -> Framing:
        """The driver's shared framing (None on a client, under context takeover, on drafts)."""
        shared = getattr(self._connection.driver, "shared_framing", None)
        result = shared() if callable(shared) else None
        return result if isinstance(result, SharedFraming) else None

    def is_open(self) -> bool:
        """True while the connection is OPEN."""
        return self._connection.state is ReadyState.OPEN

    def write(self, item: Item | None) -> WriteNowait:
        """See Sink.write."""
        connection = self._connection
        if item is None:
            return connection.write_nowait()
        if isinstance(item, bytes):
            return connection.write_nowait(frame=item)
        if isinstance(item, OwnFrame):
            return connection.write_nowait(message=item.data)
        return connection.write_nowait(close=(item.code, item.reason))

    def fileno(self) -> int:
        """See Sink.fileno."""
        fd = self._connection.fileno()
        return -1 if fd is None else fd


class EventSourceSink:
    """An EventSource member, through the stream's ``write_nowait``; it gets text messages only."""

    def __init__(self, stream: EventSource) -> None:
        self._stream = stream

    def framing(self) -> Framing:
        """Always SSE_FRAMING."""
        return SSE_FRAMING

    def is_open(self) -> bool:
        """True while the stream is OPEN."""
        return self._stream.ready_state is ReadyState.OPEN

    def write(self, item: Item | None) -> WriteNowait:
        """See Sink.write; a CloseItem closes the stream (its close listeners run here)."""
        if isinstance(item, CloseItem):
            self._stream.close()
            return WriteNowait.CLOSED
        if isinstance(item, OwnFrame):  # pragma: no cover - EventSource members always share
            raise TypeError("EventSource members take formatted events")
        return self._stream.write_nowait(item)

    def fileno(self) -> int:
        """See Sink.fileno."""
        return self._stream.watch_fileno()


def sink_for(target: object) -> Sink:
    """The Sink for a WebSocket (server or client) or an EventSource; TypeError otherwise."""
    if isinstance(target, WebSocketAPI):
        return WebSocketSink(target)
    if isinstance(target, EventSource):
        return EventSourceSink(target)
    raise TypeError(f"a broadcast member is a WebSocket, Client or EventSource, not {type(target).__name__}")


class MemberState(Enum):
    """Where a member is in the writer's loop; written only under the writer's lock."""

    IDLE = "idle"  # nothing to write
    READY = "ready"  # in the writer's ready queue
    WAITING_ROOM = "waiting-room"  # its socket is full: registered for POLLOUT
    WAITING_TURN = "waiting-turn"  # another thread was writing: retried after a short delay
    GONE = "gone"  # closed or closing: nothing more is queued


@dataclass(eq=False)
class Member:
    """The writer's record of one connection (identity-compared; fields guarded by the writer's lock).

    ``backlog_bytes`` and ``len(backlog)`` are what the limits bound; ``unfinished`` means bytes of
    an earlier turn wait in the connection (they are not in the backlog any more); ``groups``
    counts the groups holding it (0: only one-shot broadcasts).
    """

    target: object
    sink: Sink
    backlog: deque[Item] = field(default_factory=deque)
    backlog_bytes: int = 0
    state: MemberState = MemberState.IDLE
    unfinished: bool = False
    closing: bool = False
    groups: int = 0
    skipped: int = 0
    waiting_since: float = 0.0
    _framing: Framing = None
    _framing_known: bool = False

    def framing(self) -> Framing:
        """The member's framing key, read once the connection is open (it never changes after)."""
        if not self._framing_known:
            self._framing = self.sink.framing()
            self._framing_known = True
        return self._framing

    def __hash__(self) -> int:
        return id(self)


Framed = tuple[Member, Item, int]
"""A delivery planned by a publish: the member, its item and the bytes it counts for."""

