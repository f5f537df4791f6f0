"""How a connection ends: failing it, finishing the closing handshake, shutting TCP down
(a mixin of Connection).

The descriptor is closed only by the reading thread (or when nobody reads), so no thread ever
polls a descriptor number the process has already reused; other threads wake the reader by
shutting the socket down through a duplicate.
"""

from __future__ import annotations

import os
import socket
import time

from ..events import ErrorEvent, ReadyState
from ..net.transport import RECV_SIZE, PlainSocketTransport, Transport
from .roles import Side
from .state import ConnectionState

CLIENT_EOF_WAIT = 2.0  # RFC 6455 section 7.1.1: the client waits for the server to close TCP first
# Enum members as module names: a class attribute read goes through EnumType's hook on 3.11.
_CLOSED = ReadyState.CLOSED
_CLIENT = Side.CLIENT


class EndingPath(ConnectionState):
    """The end of one connection; see connection.py for the threads and locks."""

    def _fail(self, message: str, error: BaseException | None) -> None:
        """Give up on the connection: error event (if still open), close event 1006, TCP ended."""
        with self._lock:
            if self.driver.state is not ReadyState.CLOSED:
                if self.driver.state < ReadyState.CLOSING:
                    self._events.append(ErrorEvent(message, error))
                self.driver.abort(1006, message)
                self._events.extend(self.driver.events_received())
                self.driver.data_to_send()  # nothing more is written after an abort
        self._end_transport()
        self._after_operation()

    def _finish_if_closed(self) -> None:
        """Once the driver is CLOSED: flush (a close echo), wait for EOF as a client, close TCP."""
        if self._core.state is not _CLOSED:  # the protocol driver once chosen: one call less
            return
        if not self._ended:
            self._flush(block=True)
            if self.side is _CLIENT:
                close = self.driver.close_event
                if close is not None and close.was_clean:
                    self._await_server_eof()
        self._end_transport()

    def _await_server_eof(self) -> None:
        transport = self._transport
        if transport is None or self._broken is not None:
            return
        transport.shutdown_write()
        deadline = time.monotonic() + CLIENT_EOF_WAIT
        while time.monotonic() < deadline:
            if transport.pending() == 0 and not self._readable().poll((deadline - time.monotonic()) * 1000):
                return
            try:
                if type(transport) is PlainSocketTransport:
                    # Readable: a read that does not wait (a deadline already passed) needs no
                    # change of the socket's receive timeout, which a blocking recv() would.
                    data = transport.recv_before(RECV_SIZE, 0.0, 0.0)
                    if data is None:
                        continue  # nothing after all: poll again
                else:
                    data = transport.recv(RECV_SIZE)
                if not data:
                    self._peer_eof = True  # nothing left unread: closing the socket is enough
                    return
            except OSError:
                return

    def _end_transport(self) -> None:
        """Shut the transport down (once) and close it, unless another thread is reading.

        The shutdown wakes every thread blocked in poll, recv or sendall on it; the descriptor
        itself is closed only by the reading thread (or when nobody reads), so that no thread
        ever polls a descriptor number the process has already reused.
        """
        with self._lock:
            transport = self._transport
            if transport is None or self._transport_closed:
                self._ended = True
                return
            first = not self._ended
            self._ended = True
            reader_elsewhere = self._read_lock.locked() and not self._on_reader_thread()
            if not reader_elsewhere:
                self._transport_closed = True
            # Nobody else can be blocked on the socket when no other thread reads and no write is
            # in progress (later writers see _ended), so no duplicate is needed to reach one:
            # after the peer's EOF nothing is left unread (a close would not reset) and closing
            # is enough; before it (a closing handshake's end) a plain socket is shut down
            # itself first. This is how most connections end, and the duplicate-and-shutdown
            # costs four system calls, each a wait for the interpreter lock when thousands of
            # peers vanish at once.
            plain = transport if isinstance(transport, PlainSocketTransport) else None
            alone = (first and not reader_elsewhere and (self._peer_eof or plain is not None)
                     and self._write_lock.acquire(blocking=False))
            dup = _dup_socket(transport) if first and not alone else None
        if alone:
            try:
                if not self._peer_eof and plain is not None:
                    try:
                        plain.sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                transport.close()
            finally:
                self._write_lock.release()
            self._queue.stop_putting(wake=False)  # alone: no other thread reads, so none puts
            return
        if first:
            _shutdown(dup)
            self._queue.stop_putting()
        if reader_elsewhere:
            return
        with self._write_lock:
            transport.close()

    def _interrupt(self) -> None:
        """Wake the reading thread from another thread by shutting the socket down."""
        with self._lock:
            if self._ended or self._transport is None:
                return
            dup = _dup_socket(self._transport)
        _shutdown(dup)
        self._queue.stop_putting()


def _dup_socket(transport: Transport) -> socket.socket | None:
    """A duplicate of the transport's socket; call with the connection's _lock held.

    Under the lock the descriptor cannot be closed (``_transport_closed`` is set under it before
    the close), so the duplicate never refers to a socket the process has reused the number for.
    """
    try:
        return socket.socket(fileno=os.dup(transport.fileno()))
    except OSError:
        return None


def _shutdown(dup: socket.socket | None) -> None:
    # shutdown() acts on the TCP connection, not on one descriptor: a dup reaches it even
    # when the transport wraps TLS, and it wakes any thread blocked in poll, recv or send.
    if dup is None:
        return
    try:
        dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        dup.close()
