"""Ready states and the events a connection dispatches, as small frozen dataclasses.

Every event has ``target``: the connection (WebSocket, Client, EventSource reader) that dispatched
it, as in the DOM, so a listener can reply through ``event.target`` without a name bound
elsewhere. The sans-I/O driver makes events without one (None); the dispatching connection sets
it, once, just before the first listener sees the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, TypeVar, Union


class ReadyState(IntEnum):
    """The WebSocket API's readyState values, as in browsers and the original."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


@dataclass(frozen=True)
class OpenEvent:
    """The opening handshake completed; the connection is OPEN."""

    target: Any = field(default=None, compare=False, repr=False, kw_only=True)
    type: ClassVar[str] = "open"


@dataclass(frozen=True)
class MessageEvent:
    """A complete message: ``data`` is ``str`` for a text message and ``bytes`` for binary."""

    data: str | bytes
    target: Any = field(default=None, compare=False, repr=False, kw_only=True)
    type: ClassVar[str] = "message"


@dataclass(frozen=True)
class PingEvent:
    """A ping arrived (it has already been answered with a pong)."""

    data: bytes
    target: Any = field(default=None, compare=False, repr=False, kw_only=True)
    type: ClassVar[str] = "ping"


@dataclass(frozen=True)
class PongEvent:
    """A pong arrived; ``data`` is its payload, matched against pending ``ping()`` callbacks."""

    data: bytes
    target: Any = field(default=None, compare=False, repr=False, kw_only=True)
    type: ClassVar[str] = "pong"


@dataclass(frozen=True)
class ErrorEvent:
    """A protocol or network error; informational, a close event always follows."""

    message: str
    error: BaseException | None = None
    target: Any = field(default=None, compare=False, repr=False, kw_only=True)
    type: ClassVar[str] = "error"


@dataclass(frozen=True)
class CloseEvent:
    """The connection is CLOSED. Fired exactly once.

    ``code`` and ``reason`` are those the peer sent (1005 when its close frame had no code),
    the local failure code when we failed the connection, or 1006 when the TCP connection ended
    without a closing handshake. ``was_clean`` is True when the closing handshake completed.
    """

    code: int | None
    reason: str = ""
    was_clean: bool = False
    target: Any = field(default=None, compare=False, repr=False, kw_only=True)
    type: ClassVar[str] = "close"


Event = Union[OpenEvent, MessageEvent, PingEvent, PongEvent, ErrorEvent, CloseEvent]
EventT = TypeVar("EventT")


def copied(event: EventT) -> EventT:
    """A shallow copy of ``event``: the same class and fields (``copy.copy``'s result, for these
    dataclasses without slots or a ``__copy__``, in two C calls where it makes about fifteen)."""
    twin: EventT = object.__new__(type(event))
    twin.__dict__.update(event.__dict__)
    return twin


def with_target(event: object, target: object) -> None:
    """Set ``event.target`` (the dispatcher does it once; events are otherwise immutable).

    Also used for the EventSource reader's ServerSentEvent, which has no such field.
    """
    object.__setattr__(event, "target", target)
