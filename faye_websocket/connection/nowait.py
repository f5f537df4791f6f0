"""Writes that never wait: as many bytes as a socket takes right now.

The broadcast writer (``faye_websocket.broadcast``) serves every member of every group from one
thread, so it must never block on one peer. ``Connection.write_nowait`` and
``EventSource.write_nowait`` use ``send_some`` to write a prefix of their bytes and keep the rest
for the next turn; ``WriteNowait`` says how the turn went.

Plain TCP gets a true non-blocking send (``MSG_DONTWAIT``), which takes exactly what fits.
TLS sockets take no send flags and encrypt whole records, so there the writer polls for room
first and then writes at most ``TLS_NOWAIT_CHUNK`` bytes: after a POLLOUT the kernel has room
for at least a third of the send buffer (Linux ``sk_stream_min_wspace``), more than one small
record, so the write does not block in practice; if it ever does, the socket's send timeout
bounds it.
"""

from __future__ import annotations

import select
import socket
import ssl
from enum import Enum
from typing import Protocol

# Plaintext bytes per TLS write after a POLLOUT: one record of this size plus its overhead fits in
# the room POLLOUT promises for any send buffer of 16 KiB or more (Linux's tcp_wmem default).
TLS_NOWAIT_CHUNK = 4096


class WriteNowait(Enum):
    """How a ``write_nowait`` turn went."""

    DONE = "done"  # everything written: the socket took it all
    PENDING = "pending"  # bytes are left (kept in order): call again once the socket is writable
    BUSY = "busy"  # another thread is writing: nothing was done; call again a little later
    CLOSED = "closed"  # closing or closed: nothing more will be written (the item was dropped)


class Writable(Protocol):
    """A transport as ``send_some`` needs it (``net.transport.Transport`` has these)."""

    def sendall(self, data: bytes) -> None: ...

    def fileno(self) -> int: ...


def send_some(target: Writable | socket.socket, data: memoryview) -> int:
    """Write a prefix of ``data`` without waiting; return how many bytes were written (maybe 0).

    ``target`` is a connected socket (plain or TLS) or a transport. Raises OSError when the
    connection is broken. Any thread, as long as the caller is the target's only writer.
    """
    sock = _plain_socket(target)
    if sock is not None:
        if sock.gettimeout() is not None and not _has_room(sock.fileno()):
            return 0  # a socket with a timeout would poll (and wait) before MSG_DONTWAIT
        try:
            return sock.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return 0
    if not _has_room(target.fileno()):
        return 0
    chunk = data[:TLS_NOWAIT_CHUNK]
    target.sendall(chunk)  # type: ignore[arg-type]  # memoryview is a bytes-like buffer
    return len(chunk)


def _plain_socket(target: object) -> socket.socket | None:
    """The plain TCP socket under ``target`` (None for TLS and transports over other transports)."""
    sock = target if isinstance(target, socket.socket) else getattr(target, "sock", None)
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
        return None
    if not hasattr(socket, "MSG_DONTWAIT"):
        return None  # pragma: no cover - every platform this package supports has it
    return sock


def _has_room(fd: int) -> bool:
    """True when the send buffer of ``fd`` has room (a zero-timeout poll)."""
    if fd < 0:
        raise OSError("the socket is closed")
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    events = poller.poll(0)
    if events and events[0][1] & select.POLLNVAL:
        raise OSError("the socket is closed")
    return bool(events)
