"""Connection's write path: the outbox, its flushes and the write lock (a mixin of Connection).

Every byte the driver produces is framed under ``_lock`` and queued in the outbox in the order the
driver made it; whoever holds ``_write_lock`` writes it. A sender waits for its turn at the write
lock (so it returns once written); the reader and ``close()`` write only their own replies and
never wait for the lock: the thread writing now takes their bytes too (see ``_flush``).
"""

from __future__ import annotations

import time
from typing import Callable

from ..events import ReadyState
from ..net.transport import Transport
from .driver_like import DriverLike, FrameMaker
from .state import ConnectionState

_OPEN = ReadyState.OPEN  # compared per message: a module global (see connection.py's _OPEN)

# Replies made on the reading thread while it handles one read (echoes from a listener, pongs,
# close echoes) leave in one write after the batch; a batch larger than this is written at once.
COALESCE_LIMIT = 65536
WRITE_CHUNK = 256 * 1024  # each sendall gets its own send timeout, so the timeout measures progress
# The reader stops and waits for the writer once this many bytes of its own replies (pongs, close
# echoes) are queued behind another thread's write (a peer that floods pings and reads nothing).
# Other threads' messages do not count: each of those threads waits for its own write.
OUTBOX_SOFT_LIMIT = 1 << 20


class WritePath(ConnectionState):
    """The outbox and the writes of one connection; see connection.py for the threads and locks."""

    def _send_and_write(self, core: DriverLike, data: str | bytes | bytearray | memoryview) -> bool:
        """send() on any other thread: take the write lock, frame the message, write it (with
        whatever replies were queued before it, in order); returns once written."""
        transport = self._transport
        if transport is None:
            accepted = self._operate(lambda: core.send(data), block=True)
            return accepted and self._broken is None
        frame_message = self._frame_to_write  # the write lock is held until the frame is written
        write_lock, lock = self._write_lock, self._lock
        # acquire/release, not `with`: its __enter__/__exit__ calls cost twice the lock itself
        write_lock.acquire()
        try:
            lock.acquire()
            try:
                if self._ended:
                    return False
                frame = frame_message(data) if frame_message is not None else None
                if frame is not None:  # the driver's one-call framing (_frame_locked's first case)
                    accepted = True
                else:
                    accepted, frame = self._frame_locked(core, None, data)
                if self._outbox:
                    frame = b"".join([*(item for item, _ in self._outbox), frame])
                    self._outbox.clear()
                    self._outbox_size = self._reply_size = 0
                self._in_flight = size = len(frame)
            finally:
                lock.release()
            error = None
            if not size:
                pass
            elif size <= WRITE_CHUNK:  # _write_out's common case, without its call
                try:
                    transport.sendall(frame)
                except OSError as failure:
                    error = failure
                finally:
                    self._in_flight = 0
            else:
                error = self._write_out(transport, frame)
        finally:
            write_lock.release()
        if error is not None:
            self._write_failed(error)
            return False
        if self._outbox:  # a reply queued while we wrote: its thread left it to us
            self._flush(block=False)
        if core.state is not _OPEN:
            self._after_operation()
        return accepted and self._broken is None

    def _frame_locked(
        self, core: DriverLike, frame_message: FrameMaker | None, data: str | bytes | bytearray | memoryview
    ) -> tuple[bool, bytes | bytearray | memoryview]:
        """(accepted, frame) for ``data``, with ``_lock`` held: the driver's one-call framing when it
        has one for this message, else ``send`` + ``data_to_send`` (extensions, fragments, drafts),
        whose failure events are queued for the reader."""
        frame = frame_message(data) if frame_message is not None else None
        if frame is not None:
            return True, frame
        accepted = core.send(data)
        frame = core.data_to_send()
        if core.state is not _OPEN:  # an extension failed: error and close events
            self._events.extend(core.events_received())
        return accepted, frame

    def _write_out(self, transport: Transport, data: bytes | bytearray | memoryview) -> OSError | None:
        """Write ``data`` (the write lock is held), a chunk at a time when large; the error, if any."""
        try:
            if len(data) <= WRITE_CHUNK:
                transport.sendall(data)
            else:
                view = memoryview(data)
                for start in range(0, len(view), WRITE_CHUNK):
                    transport.sendall(view[start : start + WRITE_CHUNK])
        except OSError as error:
            return error
        finally:
            self._in_flight = 0
        return None

    def _operate(self, action: Callable[[], bool | None], *, block: bool = False) -> bool:
        """Run a driver call under the lock, queue its output and events, then write them."""
        with self._lock:
            if self._ended:
                return False
            was_closing = self.driver.state is ReadyState.CLOSING
            result = action()
            self._collect(reply=not block)
            state = self.driver.state
            if state is ReadyState.CLOSING and not was_closing:
                self._deadlines.closing(time.monotonic())
        # A sender always takes its turn at the write lock (so it returns once written); others
        # write only when there is something to write.
        if block or self._outbox:
            self._flush(block=block or self._reply_size > OUTBOX_SOFT_LIMIT)
        if state is ReadyState.CLOSED:
            self._after_operation()
        return result is not False

    def _collect(self, *, reply: bool) -> None:
        # Called with _lock held: move the driver's output into the outbox and event list.
        data = self.driver.data_to_send()
        if data:
            self._outbox.append((data, reply))
            self._outbox_size += len(data)
            if reply:
                self._reply_size += len(data)
        events = self.driver.events_received()
        if events:
            self._events.extend(events)

    def _flush(self, *, block: bool) -> None:
        """Write the outbox unless another thread is writing (then it writes our bytes too).

        With ``block`` the caller waits for the write lock at least once, so a sender returns
        only after its bytes (and everything queued before them) have been written. Without it
        (the reader, close()) only replies are written: a message another thread queued is left
        at the head of the outbox for that thread, which is on its way to the write lock, so
        the reader never ends up blocked writing someone else's megabytes instead of reading.
        """
        everything = block
        while self._transport is not None:
            if not self._write_lock.acquire(blocking=block):
                return
            try:
                error = self._drain_outbox(everything=everything)
            finally:
                self._write_lock.release()
            if error is not None:
                self._write_failed(error)
                return
            # Checked after the release: a thread that queued bytes before this check is seen
            # here, and one that queues after it finds the write lock free.
            if not self._outbox or not (everything or self._outbox[0][1]):
                return
            block = False

    def _has_writable(self, everything: bool) -> bool:
        # Called with _lock held: is there something at the head of the outbox for this writer?
        return bool(self._outbox) and (everything or self._outbox[0][1])

    def _drain_outbox(self, *, everything: bool) -> OSError | None:
        """Write queued bytes until the outbox is empty (or, unless ``everything``, until the
        next item is another thread's message); the write lock is held."""
        transport = self._transport
        while transport is not None:
            with self._lock:
                if self._ended or not self._has_writable(everything):
                    return None
                data = self._take_writable(everything)
                self._in_flight = len(data)
            error = self._write_out(transport, data)
            if error is not None:
                return error
        return None

    def _take_writable(self, everything: bool) -> bytes:
        """Pop what this writer may write from the outbox as one buffer (called with _lock held)."""
        outbox = self._outbox
        if everything or self._reply_size == self._outbox_size:  # every item is a reply (none is empty)
            chunks = [data for data, _ in outbox]
            outbox.clear()
            self._outbox_size = self._reply_size = 0
        else:
            chunks = []
            while outbox and outbox[0][1]:
                data, _ = outbox.popleft()
                chunks.append(data)
                self._outbox_size -= len(data)
                self._reply_size -= len(data)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _write_failed(self, error: OSError) -> None:
        with self._lock:
            if self._broken is None:
                self._broken = error
            self._outbox.clear()
            self._outbox_size = self._reply_size = 0
        if self._read_lock.locked() and not self._on_reader_thread():
            self._interrupt()  # the reader wakes, sees _broken and reports the failure
        else:
            self._fail(self._network_message(error), error)
