"""The shared writer: one thread that drains every member's backlog as its socket takes bytes.

Publishing only appends to backlogs (``enqueue``) and wakes this thread; the thread writes each
ready member with ``write_nowait`` (never blocking), and a member whose socket is full waits,
registered for POLLOUT, while the others go on. So one member that stops reading costs the
others nothing: no thread per member, no blocking write, in the manner of the EventSource
watcher (``eventsource/watcher.py``). The thread starts with the first message to write and
ends once nothing has been queued or waited on for ``IDLE_LINGER`` seconds.

Threading: ``enqueue``, ``member``, ``hold`` and ``release`` are safe from any thread; the
writer's lock guards every member's backlog and state and is never held while writing. The
only user code the thread runs is the close listeners of EventSource members it closes.
"""

from __future__ import annotations

import heapq
import itertools
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

from ..connection.nowait import WriteNowait
from ..net.wakeup import ServiceThread, drain_wakeups
from .member import CloseItem, Framed, Item, Member, MemberState, sink_for
from .policy import OVERFLOW_REASON, Limits, Overflow

# Frames of one member joined into one write: enough to fill a socket buffer in one system call,
# small enough that one member's turn stays short.
WRITE_BATCH = 256 * 1024
TURNS_PER_SERVE = 16  # writes per member per turn before the next ready member gets its turn
# A member whose connection was busy (another thread writing) is tried again after this long;
# that thread is writing to the same socket, so the member loses nothing by waiting.
BUSY_RETRY = 0.002
IDLE_LINGER = 0.25  # seconds without work before the thread ends (a burst keeps one thread)


@dataclass
class EnqueueResult:
    """What one publish did: members it was queued for, skipped, and closed for overflowing."""

    queued: int = 0
    skipped: int = 0
    closed: int = 0


class SharedWriter:
    """The process-wide writer (see the module docstring); ``WRITER`` is the one to use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # owner: this writer; guards members, _ready and the thread
        self._members: dict[int, Member] = {}
        self._ready: deque[Member] = deque()
        self._service = ServiceThread("faye_websocket-broadcast-writer", self._lock, self._run)

    # -- any thread ------------------------------------------------------------------------

    def member(self, target: object) -> Member:
        """The one Member of ``target`` (made on first use); TypeError for an unsupported target."""
        with self._lock:
            found = self._members.get(id(target))
            if found is not None and found.target is target:
                return found
        member = Member(target, sink_for(target))
        with self._lock:
            found = self._members.get(id(target))
            if found is not None and found.target is target:
                return found
            self._members[id(target)] = member
            return member

    def hold(self, member: Member) -> None:
        """A group took ``member``: keep its record while any group holds it."""
        with self._lock:
            member.groups += 1

    def release(self, member: Member) -> None:
        """A group let ``member`` go; its record goes once no group holds it and it is idle."""
        with self._lock:
            member.groups -= 1
            self._forget_if_idle(member)

    def discard_unused(self, member: Member) -> None:
        """Forget ``member`` if nothing holds it and nothing is queued for it (a failed join)."""
        with self._lock:
            self._forget_if_idle(member)

    def enqueue(
        self, deliveries: list[Framed], limits: Limits, overflow: Overflow, close_code: int
    ) -> EnqueueResult:
        """Queue each planned delivery behind its member's backlog, applying ``limits``.

        Never blocks on a socket. Deliveries of one call reach every member in the same order
        relative to other calls (the lock is held for the whole call).
        """
        result = EnqueueResult()
        with self._lock:
            for member, item, size in deliveries:
                if member.closing or member.state is MemberState.GONE:
                    continue
                if limits.fits(member.backlog_bytes, len(member.backlog), size):
                    self._append(member, item, size)
                    result.queued += 1
                elif overflow is Overflow.SKIP:
                    member.skipped += 1
                    result.skipped += 1
                else:
                    self._close_overflowing(member, close_code)
                    result.closed += 1
            if self._ready:
                self._service.start_or_wake()
        return result

    def close_member(self, member: Member, code: int, reason: str) -> None:
        """Drop ``member``'s backlog and close its connection from the writer thread."""
        with self._lock:
            if member.closing or member.state is MemberState.GONE:
                return
            member.backlog.clear()
            member.backlog_bytes = 0
            member.closing = True
            self._append(member, CloseItem(code, reason), 0)
            self._service.start_or_wake()

    def running(self) -> bool:
        """True while the writer thread exists (tests check that it ends when idle)."""
        with self._lock:
            return self._service.running()

    def backlog(self, target: object) -> tuple[int, int]:
        """(bytes, messages) waiting for ``target`` (0, 0 if it has no record)."""
        with self._lock:
            member = self._members.get(id(target))
            if member is None or member.target is not target:
                return 0, 0
            return member.backlog_bytes, len(member.backlog)

    # -- under the lock ------------------------------------------------------------------------

    def _append(self, member: Member, item: Item, size: int) -> None:
        member.backlog.append(item)
        member.backlog_bytes += size
        if member.state is MemberState.IDLE:
            member.state = MemberState.READY
            self._ready.append(member)

    def _close_overflowing(self, member: Member, code: int) -> None:
        # The backlog goes at once, so memory stays bounded while the close frame waits for room.
        member.backlog.clear()
        member.backlog_bytes = 0
        member.closing = True
        self._append(member, CloseItem(code, OVERFLOW_REASON), 0)

    def _forget_if_idle(self, member: Member) -> None:
        if member.groups > 0:
            return
        idle = member.state in (MemberState.IDLE, MemberState.GONE) and not member.backlog
        if idle and self._members.get(id(member.target)) is member:
            del self._members[id(member.target)]

    # -- the writer thread -------------------------------------------------------------------------

    def _run(self, wake_r: socket.socket) -> None:
        _Loop(self, wake_r).run()

    def take_ready(self, idle_since: float | None, waiting: bool) -> list[Member] | None:
        """The writer thread's batch; None (and the thread must end) once idle for long enough."""
        with self._lock:
            if self._ready:
                batch = list(self._ready)
                self._ready.clear()
                return batch
            if waiting or idle_since is None or time.monotonic() - idle_since < IDLE_LINGER:
                return []
            self._service.finish()
            return None

    def next_item(self, member: Member) -> tuple[Item | None, int]:
        """Take the next write of ``member``: shared frames joined up to WRITE_BATCH, or one item."""
        with self._lock:
            backlog = member.backlog
            if not backlog:
                return None, 0
            first = backlog.popleft()
            if not isinstance(first, bytes):
                return first, 0
            size = len(first)
            parts = [first]
            while backlog and isinstance(backlog[0], bytes) and size + len(backlog[0]) <= WRITE_BATCH:
                part = backlog.popleft()
                assert isinstance(part, bytes)
                parts.append(part)
                size += len(part)
            member.backlog_bytes -= size
            return (first if len(parts) == 1 else b"".join(parts)), size

    def put_back(self, member: Member, item: Item, size: int) -> None:
        """Return an item the connection did not take (it was busy) to the head of the backlog."""
        with self._lock:
            member.backlog.appendleft(item)
            member.backlog_bytes += size

    def settle(self, member: Member, state: MemberState) -> bool:
        """Record where ``member`` waits; IDLE only if nothing was queued meanwhile (else READY).

        READY puts it at the back of the ready queue. Returns True when IDLE was asked for but
        something was queued meanwhile: the caller serves the member on.
        """
        with self._lock:
            if member.state is MemberState.GONE:
                return False
            if state is MemberState.GONE:
                member.state = state
                member.backlog.clear()
                member.backlog_bytes = 0
                if self._members.get(id(member.target)) is member:
                    del self._members[id(member.target)]
                return False
            if state is MemberState.IDLE and (member.backlog or member.unfinished):
                member.state = MemberState.READY
                return True  # queued meanwhile: the caller serves it on
            member.state = state
            if state is MemberState.READY:
                self._ready.append(member)  # its turn is used up: to the back of the queue
            elif state is MemberState.IDLE:
                if member.closing:
                    member.state = MemberState.GONE
                self._forget_if_idle(member)
            return False

    def requeue(self, member: Member) -> None:
        """Put a member back in the ready queue (its socket has room, or its retry is due)."""
        with self._lock:
            if member.state in (MemberState.WAITING_ROOM, MemberState.WAITING_TURN):
                member.state = MemberState.READY
                self._ready.append(member)


class _Loop:
    """The writer thread's own state: its poller, the members waiting for room, the retry heap."""

    def __init__(self, writer: SharedWriter, wake_r: socket.socket) -> None:
        self._writer = writer
        self._wake_r = wake_r
        self._poller = select.poll()
        self._poller.register(wake_r.fileno(), select.POLLIN)
        self._waiting: dict[int, list[Member]] = {}  # descriptor -> members waiting for POLLOUT
        self._retries: list[tuple[float, int, Member]] = []
        self._sequence = itertools.count()
        self._idle_since: float | None = None

    def run(self) -> None:
        while True:
            batch = self._writer.take_ready(self._idle_since, bool(self._waiting or self._retries))
            if batch is None:
                return
            for member in batch:
                self._serve(member)
            if batch:
                self._idle_since = None
            elif not self._waiting and not self._retries and self._idle_since is None:
                self._idle_since = time.monotonic()
            self._wait(bool(batch))

    def _serve(self, member: Member) -> None:
        writer = self._writer
        for _ in range(TURNS_PER_SERVE):
            if member.unfinished:
                item, size = None, 0
            else:
                item, size = writer.next_item(member)
                if item is None:
                    if writer.settle(member, MemberState.IDLE):
                        continue
                    return
            outcome = member.sink.write(item)
            if outcome is WriteNowait.BUSY:
                if item is not None:
                    writer.put_back(member, item, size)
                writer.settle(member, MemberState.WAITING_TURN)
                heapq.heappush(self._retries, (time.monotonic() + BUSY_RETRY, next(self._sequence), member))
                return
            if outcome is WriteNowait.CLOSED:
                writer.settle(member, MemberState.GONE)
                return
            member.unfinished = outcome is WriteNowait.PENDING
            if member.unfinished:
                self._wait_for_room(member)
                return
        writer.settle(member, MemberState.READY)

    def _wait_for_room(self, member: Member) -> None:
        fd = member.sink.fileno()
        if fd < 0:
            self._writer.settle(member, MemberState.GONE)
            return
        self._writer.settle(member, MemberState.WAITING_ROOM)
        members = self._waiting.setdefault(fd, [])
        if not members:
            self._poller.register(fd, select.POLLOUT)
        members.append(member)

    def _wait(self, busy: bool) -> None:
        timeout_ms: float | None = None
        if busy:
            timeout_ms = 0
        elif self._retries:
            timeout_ms = max(0.0, (self._retries[0][0] - time.monotonic()) * 1000)
        elif not self._waiting:
            timeout_ms = IDLE_LINGER * 1000
        for fd, _ in self._poller.poll(timeout_ms):
            if fd == self._wake_r.fileno():
                drain_wakeups(self._wake_r)
                continue
            self._poller.unregister(fd)
            for member in self._waiting.pop(fd, []):
                self._writer.requeue(member)
        now = time.monotonic()
        while self._retries and self._retries[0][0] <= now:
            _, _, member = heapq.heappop(self._retries)
            self._writer.requeue(member)



WRITER = SharedWriter()
"""The process-wide writer shared by every group and one-shot broadcast."""
