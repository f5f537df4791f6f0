"""The broadcast writer's turn at a connection: ``write_nowait`` (a mixin of Connection).

One broadcast thread serves many connections (``faye_websocket.broadcast``), so its turn at one of
them never waits: it writes what the socket takes now (``nowait.send_some``) and leaves the rest at
the head of the outbox.
"""

from __future__ import annotations

import time

from ..events import ReadyState
from .nowait import WriteNowait, send_some
from .writing import WritePath


class BroadcastTurn(WritePath):
    """The broadcast writer's turn (``write_nowait``), a mixin of Connection: one write that never
    waits. Bytes the socket does not take stay at the head of the outbox, where the next writer of
    any kind finishes them first, so frames never interleave."""

    def write_nowait(
        self, *, frame: bytes | None = None, message: str | bytes | None = None,
        close: tuple[int, str] | None = None,
    ) -> WriteNowait:
        """One write turn that never waits, for the broadcast writer (one thread for many
        connections); any thread.

        Queues at most one item behind the replies already queued: ``frame`` (bytes framed for
        this connection already, shared with others), ``message`` (framed now by the driver,
        with this connection's extensions) or ``close`` ((code, reason): start the closing
        handshake, as ``close(wait=False)``). Then writes what the socket takes now
        (``nowait.send_some``); bytes it does not take stay at the head of the outbox, where
        the next writer of any kind finishes them first, so frames never interleave. Returns
        BUSY (nothing done) while another thread writes or has a message queued, CLOSED once
        the connection is closing (for a frame or message) or ended, PENDING while bytes are
        left, DONE otherwise. A failed write fails the connection (close event 1006).
        """
        if not self._write_lock.acquire(blocking=False):
            return WriteNowait.BUSY
        with self._lock:
            if self._ended or self._transport is None:
                self._write_lock.release()
                return WriteNowait.CLOSED
            if not all(reply for _, reply in self._outbox):
                self._write_lock.release()
                return WriteNowait.BUSY  # a sender's message is queued: that thread writes next
            accepted = self._queue_nowait(frame, message, close)
        if close is not None:
            self._queue.stop_putting()
            self._arm_watchdog()
        outcome = self._drain_nowait()
        if self.driver.state is ReadyState.CLOSED and not self._on_reader_thread():
            self._interrupt()  # the driver failed the connection: the reader must report it
        if outcome is WriteNowait.DONE and not accepted:
            return WriteNowait.CLOSED
        return outcome

    def _queue_nowait(
        self, frame: bytes | None, message: str | bytes | None, close: tuple[int, str] | None
    ) -> bool:
        # Called with _lock held: queue the item as a reply (written without a waiting sender).
        if close is not None:
            if self.driver.close(*close):
                self._deadlines.closing(time.monotonic())
            self._collect(reply=True)
            return True
        if self.driver.state is not ReadyState.OPEN:
            return frame is None and message is None
        if frame is not None:
            self._outbox.append((frame, True))
            self._outbox_size += len(frame)
            self._reply_size += len(frame)
        elif message is not None:
            self.driver.send(message)
            self._collect(reply=True)
        return True

    def _drain_nowait(self) -> WriteNowait:
        """Write queued replies without waiting; the write lock is held and released here."""
        transport = self._transport
        assert transport is not None
        while True:
            with self._lock:
                if self._ended or not self._has_writable(False):
                    # Released under _lock: a reply queued after this check finds the lock free.
                    self._write_lock.release()
                    return WriteNowait.CLOSED if self._ended else WriteNowait.DONE
                data, _ = self._outbox.popleft()
                self._outbox_size -= len(data)
                self._reply_size -= len(data)
                self._in_flight = len(data)
            try:
                sent = send_some(transport, memoryview(data))
            except OSError as error:
                self._in_flight = 0
                self._write_lock.release()
                self._write_failed(error)
                return WriteNowait.CLOSED
            self._in_flight = 0
            if sent < len(data):
                rest = data[sent:]
                with self._lock:
                    self._outbox.appendleft((rest, True))
                    self._outbox_size += len(rest)
                    self._reply_size += len(rest)
                    self._write_lock.release()
                return WriteNowait.PENDING
