"""In-process broadcast: a group of connections (join, leave, publish) and one-shot ``broadcast()``.

Publishing never waits on a member: it frames the message once per distinct framing (one frame
for all plain members, one per permessage-deflate setting without context takeover, one
``data:`` event for every EventSource), queues it behind each member's bounded backlog and
returns; the shared writer (``writer.py``) writes it as each socket takes bytes. A member whose
backlog would pass the limits is closed or skipped by the group's ``Overflow`` policy.

With a ``backend`` (``RedisBackend``) a publish also reaches the group's members in every other
process; messages from other processes arrive through ``deliver``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from ..eventsource.wire import format_event
from .member import SSE_FRAMING, Framed, Member, OwnFrame
from .policy import DEFAULT_MAX_BYTES, DEFAULT_MAX_MESSAGES, Limits, Overflow, check_close_code
from .writer import WRITER, SharedWriter

DEFAULT_CLOSE_CODE = 1013  # RFC 6455 section 7.4.1 "Try Again Later": see policy.py


class Backend(Protocol):
    """What a group needs from a cross-process backend (``RedisBackend`` is one)."""

    def attach(self, group: Group) -> None:
        """Start carrying ``group.name``'s messages to and from other processes."""

    def detach(self, group: Group) -> None:
        """Stop carrying them."""

    def publish(self, name: str, message: str | bytes) -> None:
        """Send ``message`` to the other processes' groups called ``name``; never blocks."""


@dataclass(frozen=True)
class GroupStats:
    """Counters of a group: ``members`` now; ``published`` messages (local publishes and
    deliveries from other processes); ``skipped`` member deliveries dropped by the SKIP policy;
    ``closed`` members closed for overflowing."""

    members: int
    published: int
    skipped: int
    closed: int


class Group:
    """A set of connections that receive every message published to it.

    ``name`` identifies the group across processes (with a ``backend``; ``ValueError`` if that
    backend already carries a group of that name). ``max_bytes`` and ``max_messages`` bound each
    member's backlog; ``overflow`` (``Overflow.CLOSE`` by default, or ``Overflow.SKIP``) says what
    happens to a member that passes them, and ``close_code`` (1013, or 1008) is the close code
    CLOSE uses. See docs/scaling.md.

    Every method is safe from any thread and none blocks on a member's socket.
    """

    def __init__(
        self,
        name: str = "",
        *,
        backend: Backend | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        overflow: Overflow = Overflow.CLOSE,
        close_code: int = DEFAULT_CLOSE_CODE,
        writer: SharedWriter | None = None,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        if not isinstance(overflow, Overflow):
            raise TypeError(f"overflow must be an Overflow, not {overflow!r}")
        self.name = name
        self.limits = Limits(max_bytes, max_messages)
        self.overflow = overflow
        self.close_code = check_close_code(close_code)
        self._writer = writer if writer is not None else WRITER
        self._lock = threading.Lock()  # owner: this group; guards _members and the counters
        self._members: dict[int, tuple[Member, Callable[[Any], None]]] = {}
        self._published = self._skipped = self._closed = 0
        self._backend = backend
        if backend is not None:
            backend.attach(self)

    def join(self, target: Any) -> bool:
        """Add a WebSocket, Client or EventSource; False if it is not open or already a member.

        The member leaves by itself when it closes. TypeError for anything else.
        """
        member = self._writer.member(target)
        listener = self._leaver(target)
        with self._lock:
            joined = id(target) not in self._members and member.sink.is_open()
            if joined:
                self._members[id(target)] = (member, listener)
        if not joined:
            self._writer.discard_unused(member)
            return False
        self._writer.hold(member)
        target.on("close", listener)
        if not member.sink.is_open():  # closed meanwhile: its close event may have gone already
            self.leave(target)
            return False
        return True

    def _leaver(self, target: Any) -> Callable[[Any], None]:
        def leave_on_close(event: Any) -> None:
            self.leave(target)

        return leave_on_close

    def leave(self, target: Any) -> bool:
        """Remove ``target``; False if it was not a member. What is queued for it is still written."""
        with self._lock:
            entry = self._members.pop(id(target), None)
        if entry is None:
            return False
        member, listener = entry
        target.off("close", listener)
        self._writer.release(member)
        return True

    def __contains__(self, target: object) -> bool:
        with self._lock:
            return id(target) in self._members

    def __len__(self) -> int:
        with self._lock:
            return len(self._members)

    def publish(self, message: str | bytes) -> int:
        """Send ``message`` to every member here and, with a backend, in every other process.

        Returns how many local members it was queued for. Text (str) goes to WebSocket members
        as a text message and to EventSource members as one ``data:`` event; bytes go to
        WebSocket members only. TypeError for anything else; never blocks on a member.
        """
        _check_message(message)
        queued = self.deliver(message)
        if self._backend is not None:
            self._backend.publish(self.name, message)
        return queued

    def deliver(self, message: str | bytes) -> int:
        """Send ``message`` to this process's members only (the backend calls this for messages
        from other processes); returns how many it was queued for."""
        _check_message(message)
        with self._lock:
            members = [member for member, _ in self._members.values()]
        result = self._writer.enqueue(plan(members, message), self.limits, self.overflow, self.close_code)
        with self._lock:
            self._published += 1
            self._skipped += result.skipped
            self._closed += result.closed
        if result.closed:
            self._drop_closing(members)
        return result.queued

    def _drop_closing(self, members: list[Member]) -> None:
        for member in members:
            if member.closing:
                self.leave(member.target)

    def stats(self) -> GroupStats:
        """The group's counters (see GroupStats)."""
        with self._lock:
            return GroupStats(len(self._members), self._published, self._skipped, self._closed)

    def close(self) -> None:
        """Remove every member (their connections stay open) and detach from the backend."""
        with self._lock:
            targets = [member.target for member, _ in self._members.values()]
        for target in targets:
            self.leave(target)
        if self._backend is not None:
            self._backend.detach(self)
            self._backend = None


def plan(members: Iterable[Member], message: str | bytes) -> list[Framed]:
    """Frame ``message`` once per distinct framing among ``members``: one delivery per member.

    Members without a shared framing get the message itself, framed by their own driver when
    written; EventSource members get text only (a bytes message skips them).
    """
    frames: dict[object, bytes] = {}
    deliveries: list[Framed] = []
    payload_size = len(message.encode("utf-8")) if isinstance(message, str) else len(message)
    for member in members:
        framing = member.framing()
        if framing is None:
            deliveries.append((member, OwnFrame(message), payload_size))
            continue
        if framing == SSE_FRAMING and not isinstance(message, str):
            continue
        frame = frames.get(framing)
        if frame is None:
            frame = format_event(message) if framing == SSE_FRAMING else framing.frame(message)  # type: ignore[union-attr,arg-type]
            frames[framing] = frame
        deliveries.append((member, frame, len(frame)))
    return deliveries


def broadcast(
    connections: Iterable[Any],
    message: str | bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    overflow: Overflow = Overflow.CLOSE,
    close_code: int = DEFAULT_CLOSE_CODE,
) -> int:
    """Send ``message`` to each open connection in ``connections`` without waiting on any.

    The one-shot form of ``Group.publish`` (same options, same backlog per connection: messages
    to one connection keep their order across calls and groups). Connections that are not open
    are left out. Returns how many it was queued for; TypeError for a member of the wrong type.
    """
    _check_message(message)
    limits = Limits(max_bytes, max_messages)
    code = check_close_code(close_code)
    members = [WRITER.member(target) for target in connections]
    result = WRITER.enqueue(plan([m for m in members if m.sink.is_open()], message), limits, overflow, code)
    for member in members:
        WRITER.discard_unused(member)
    return result.queued


def _check_message(message: object) -> None:
    if not isinstance(message, (str, bytes)):
        raise TypeError(f"a message is str or bytes, not {type(message).__name__}")
