"""A connection's deadlines: opening handshake, closing handshake, ping interval, pong timeout.

Pure bookkeeping over ``time.monotonic()`` seconds: the reader loop asks for the next deadline
to use as its poll timeout, and what has expired once it wakes.
"""

from __future__ import annotations

import itertools

from ..events import ReadyState


class Timers:
    """The connection's deadlines, all in time.monotonic() seconds; None means not armed."""

    def __init__(self, ping: float | None, pong_timeout: float | None, close_timeout: float,
                 handshake_timeout: float | None, message_timeout: float | None = None) -> None:
        self.ping_interval = ping
        self.pong_timeout = pong_timeout
        self.close_timeout = close_timeout
        self.handshake_timeout = handshake_timeout
        self.handshake_deadline: float | None = None
        self.close_deadline: float | None = None
        self.next_ping: float | None = None
        self.pong_deadline: float | None = None
        self.message_timeout = message_timeout
        self.message_deadline: float | None = None  # an unfinished message must be complete by then
        # next_deadline(OPEN), kept current by every change of the three deadlines it depends on:
        # the reader reads it once per read, as an attribute rather than a call.
        self.open_deadline: float | None = None
        self._counter = itertools.count(1)

    def opened_at(self, now: float) -> None:
        """The transport is attached: arm the handshake deadline and the first ping."""
        if self.handshake_timeout is not None:
            self.handshake_deadline = now + self.handshake_timeout
        if self.ping_interval is not None:
            self.next_ping = now + self.ping_interval
            self._refresh()

    def closing(self, now: float) -> None:
        """Our or the peer's close frame started the closing handshake."""
        self.close_deadline = now + self.close_timeout

    def received(self) -> None:
        """Bytes arrived from the peer."""
        # Any byte from the peer proves it alive: a pong may wait behind a long message
        # (faye-websocket-node #35), so waiting for the pong itself would be a false alarm.
        self.pong_deadline = None
        self._refresh()

    def holding(self, held: bool, now: float) -> None:
        """After a read: the peer has (or no longer has) an unfinished message with us."""
        if not held:
            self.message_deadline = None
        elif self.message_deadline is None and self.message_timeout is not None:
            self.message_deadline = now + self.message_timeout
        self._refresh()

    def next_deadline(self, state: ReadyState) -> float | None:
        """The earliest deadline that matters in ``state`` (None: no deadline)."""
        if state is ReadyState.OPEN:
            return self.open_deadline
        if state is ReadyState.CLOSING:
            return self.close_deadline
        if state is ReadyState.CONNECTING:
            return self.handshake_deadline
        return None

    def expired(self, now: float, state: ReadyState) -> str | None:
        """A failure message when a deadline has passed, else None."""
        if state is ReadyState.CONNECTING and passed(self.handshake_deadline, now):
            return "opening handshake timed out"
        if state is ReadyState.CLOSING and passed(self.close_deadline, now):
            return "closing handshake timed out"
        if state is ReadyState.OPEN and passed(self.pong_deadline, now):
            return "no pong within the pong timeout"
        return None

    def message_overdue(self, now: float, state: ReadyState) -> bool:
        """True when an unfinished message has passed its deadline (the connection is closed 1008)."""
        return state is ReadyState.OPEN and passed(self.message_deadline, now)

    def ping_due(self, now: float, state: ReadyState) -> bool:
        """True when an automatic ping should go out now."""
        return state is ReadyState.OPEN and passed(self.next_ping, now)

    def next_ping_payload(self, now: float) -> bytes:
        """Schedule the next ping and return this one's payload (faye sends "1", "2", ...)."""
        assert self.ping_interval is not None
        self.next_ping = now + self.ping_interval
        self._refresh()
        return str(next(self._counter)).encode("ascii")

    def ping_sent(self, now: float) -> None:
        """Arm the pong deadline, unless one is already running."""
        if self.pong_timeout is not None and self.pong_deadline is None:
            self.pong_deadline = now + self.pong_timeout
            self._refresh()

    def _refresh(self) -> None:
        """Recompute ``open_deadline`` after a change of next_ping, pong_deadline or message_deadline."""
        deadline = self.next_ping
        pong = self.pong_deadline
        if pong is not None and (deadline is None or pong < deadline):
            deadline = pong
        message = self.message_deadline
        if message is not None and (deadline is None or message < deadline):
            deadline = message
        self.open_deadline = deadline


def earliest(first: float | None, second: float | None) -> float | None:
    """The earlier of two optional deadlines."""
    if first is None:
        return second
    if second is None or first < second:
        return first
    return second


def passed(deadline: float | None, now: float) -> bool:
    """True when ``deadline`` is armed and ``now`` has reached it."""
    return deadline is not None and now >= deadline
