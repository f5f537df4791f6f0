"""The byte pipe a connection reads and writes: a socket, a TLS socket, or TLS inside TLS.

Every transport has the same small interface (``Transport``). ``pending()`` is the part that
matters for TLS: bytes may already be decrypted, or received but not yet decrypted, while the
raw socket has nothing left to read, so a reader must call ``recv`` while ``pending() > 0``
before it blocks in ``select`` on ``fileno()``. (python websockets missed exactly this through an
https proxy and delivered a server's first message 20 s late, with its next keepalive.)

Threading: one thread reads (``recv``, ``pending``) while others write (``sendall``); writers
are serialised by the connection's write lock, and ``TLSInTLS`` adds its own locks because the
reader and the writers share one ``ssl.SSLObject``.
"""

from __future__ import annotations

import math
import select
import socket
import ssl
import struct
import threading
import time
from typing import Protocol, runtime_checkable

# One TLS record carries at most 16 KiB of plaintext (RFC 8446 section 5.1); reading a few
# records' worth from the raw socket at once keeps system calls few.
RECV_SIZE = 65536  # bytes per read: larger reads are served by mmap (3 extra system calls each)
TLS_WRITE_CHUNK = 16384
TLS_FLUSH_SIZE = 65536  # encrypted bytes gathered before one write to the outer transport
# A timed read (PlainSocketTransport.recv_before) may end this much after its deadline, as a share
# of the time left (at least RECV_TIMEOUT_MIN_SLACK): the kernel's receive timeout is reset only
# when it has drifted that far, so a busy connection does not pay a setsockopt per read.
RECV_TIMEOUT_SLACK = 0.05
RECV_TIMEOUT_MIN_SLACK = 0.002
# The flag of a read that must not wait (0 where absent: wrap_socket then never uses PlainSocketTransport).
_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)
_TIMEVAL = struct.Struct("ll")  # struct timeval of SO_RCVTIMEO/SO_SNDTIMEO (socket(7)): seconds, micros
_MICROS = 1_000_000  # microseconds a second
_MAX_TIMEVAL_SECONDS = 2**31 - 1  # longer timeouts are clamped (68 years: no timeout in effect)
Buffer = bytes | bytearray | memoryview  # what a write takes: frames, and views of large ones


@runtime_checkable
class Transport(Protocol):
    """What connection.py needs from the thing it reads and writes."""

    def recv(self, size: int, deadline: float | None = None) -> bytes:
        """Up to ``size`` bytes, blocking (up to the timeout) until some arrive; b"" at EOF.

        ``deadline`` (time.monotonic()) is the caller's: a read that must wait for the rest of a
        TLS record gives up there (TimeoutError) rather than at the timeout.
        """

    def sendall(self, data: Buffer) -> None:
        """Write all of ``data``; raises OSError when the connection is broken."""

    def settimeout(self, timeout: float | None) -> None:
        """Timeout for each blocking recv / sendall (socket.timeout when it expires)."""

    def shutdown_write(self) -> None:
        """Half-close: tell the peer we will send nothing more (TCP FIN). Never raises."""

    def close(self) -> None:
        """Release the connection at once. Idempotent, never raises."""

    def fileno(self) -> int:
        """The raw socket's descriptor, for select (-1 once closed)."""

    def pending(self) -> int:
        """Bytes (or an EOF) ready for ``recv`` without touching the raw socket."""


class SocketTransport:
    """A connected ``socket.socket`` or ``ssl.SSLSocket`` behind the Transport interface."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self, size: int, deadline: float | None = None) -> bytes:
        """See Transport.recv; a TLS EOF without close_notify also reads as b"" (ragged EOF)."""
        return self.sock.recv(size)

    def sendall(self, data: Buffer) -> None:
        """See Transport.sendall."""
        self.sock.sendall(data)

    def settimeout(self, timeout: float | None) -> None:
        """See Transport.settimeout."""
        self.sock.settimeout(timeout)

    def shutdown_write(self) -> None:
        """See Transport.shutdown_write; a TLS socket stays readable through TLS afterwards."""
        try:
            # SSLSocket.shutdown() drops the TLS session (recv() would then return raw records),
            # so shut the TCP connection down through the plain socket method.
            socket.socket.shutdown(self.sock, socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        """See Transport.close."""
        try:
            self.sock.close()
        except OSError:
            pass

    def fileno(self) -> int:
        """See Transport.fileno."""
        return self.sock.fileno()

    def pending(self) -> int:
        """Decrypted bytes the TLS socket holds (0 for plain TCP)."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.fileno() >= 0:
            return self.sock.pending()
        return 0


class TLSInTLS:
    """TLS to the origin running inside another transport (wss through an https proxy).

    ``ssl.SSLContext.wrap_socket`` cannot wrap an SSLSocket, so this drives an ``ssl.SSLObject``
    with two memory BIOs over the outer transport. ``initial`` is data already read from the
    outer transport that belongs to this TLS stream; ``server_side`` plays the server's part (for
    tests and relays). Call ``handshake()`` before use.
    """

    def __init__(
        self,
        outer: Transport,
        context: ssl.SSLContext,
        server_hostname: str | None,
        initial: bytes = b"",
        *,
        server_side: bool = False,
    ) -> None:
        self.outer = outer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl_lock = threading.Lock()  # guards the SSLObject and both BIOs
        self._flush_lock = threading.Lock()  # keeps encrypted records in order on the outer transport
        self._plain = bytearray()  # decrypted ahead by pending(), handed out first by recv()
        self._eof = False
        self._error: OSError | None = None  # met by pending(), raised by the next recv()
        self._timeout: float | None = None  # for one whole recv() or handshake(), as SSLSocket's
        self._obj = context.wrap_bio(
            self._incoming, self._outgoing, server_side=server_side, server_hostname=server_hostname
        )
        if initial:
            self._incoming.write(initial)

    @property
    def ssl_object(self) -> ssl.SSLObject:
        """The inner TLS session (for getpeercert, cipher, selected_alpn_protocol)."""
        return self._obj

    def handshake(self) -> None:
        """Run the TLS handshake over the outer transport; raises ssl.SSLError, OSError, TimeoutError.

        The timeout (``settimeout``) bounds the whole handshake, as SSLSocket.do_handshake's does:
        a peer trickling its records a byte at a time must not stretch it without end.
        """
        deadline = self._call_deadline()
        while True:
            try:
                with self._ssl_lock:
                    self._obj.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                if deadline is not None:
                    # Nobody else uses the outer transport before the handshake is done, so
                    # its timeout can shrink to what is left of ours.
                    self.outer.settimeout(self._time_left(deadline))
                self._fill()
                continue
            self._flush()
            if deadline is not None:
                self.outer.settimeout(self._timeout)
            return

    def _call_deadline(self) -> float | None:
        return None if self._timeout is None else time.monotonic() + self._timeout

    @staticmethod
    def _time_left(deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the TLS peer sent only part of a record within the timeout")
        return left

    def _wait_readable(self, deadline: float) -> None:
        """Wait until the outer transport has bytes, up to ``deadline`` (then TimeoutError)."""
        poller = select.poll()
        poller.register(self.outer.fileno(), select.POLLIN)
        if self.outer.pending() == 0 and not poller.poll(math.ceil(self._time_left(deadline) * 1000)):
            raise TimeoutError("the TLS peer sent only part of a record within the timeout")

    def _flush(self) -> None:
        with self._flush_lock:
            with self._ssl_lock:
                data = self._outgoing.read()
            if data:
                self.outer.sendall(data)

    def _fill(self) -> None:
        data = self.outer.recv(RECV_SIZE)
        with self._ssl_lock:
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()

    def _read_decrypted(self, size: int) -> bytes | None:
        # Called with _ssl_lock held. None: more ciphertext is needed.
        try:
            return self._obj.read(size)
        except ssl.SSLWantReadError:
            return None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            # close_notify, or the peer ended TCP without it (a ragged EOF, read as EOF like
            # SSLSocket's suppress_ragged_eofs).
            self._eof = True
            return b""

    def recv(self, size: int, deadline: float | None = None) -> bytes:
        """See Transport.recv; decrypts buffered ciphertext before reading the outer transport.

        The timeout bounds the whole call, as SSLSocket.recv's does, not each read of the outer
        transport: a record trickling in byte by byte raises TimeoutError (one outer read past
        the deadline at most; writers share the outer timeout, so it is not shrunk here). The
        caller's ``deadline`` bounds it too: the outer transport is read again only once it is
        readable before then.
        """
        own = self._call_deadline()
        caller = deadline
        deadline = own if caller is None or (own is not None and own < caller) else caller
        filled = False
        while True:
            with self._ssl_lock:
                if self._error is not None and not self._plain:
                    raise self._error
                if self._plain:
                    data = bytes(self._plain[:size])
                    del self._plain[:size]
                    return data
                result = b"" if self._eof else self._read_decrypted(size)
            if self._outgoing.pending:  # reading can produce records to send (key updates, alerts)
                self._flush()
            if result is not None:
                return result
            if filled and deadline is not None:
                self._wait_readable(deadline)
            self._fill()
            filled = True

    def pending(self) -> int:
        """Decrypted bytes ready, after decrypting whatever ciphertext is already buffered.

        Never raises: an error met on the way counts as ready, and the next ``recv`` raises it.
        """
        try:
            self._decrypt_ahead()
        except OSError as error:  # ssl.SSLError included
            self._error = error
        with self._ssl_lock:
            ready = len(self._plain) + self._obj.pending()
            return ready + (1 if self._eof or self._error is not None else 0)

    def _decrypt_ahead(self) -> None:
        outer_pending = self.outer.pending()
        if outer_pending:  # decrypted by the proxy's TLS layer: reading it cannot block
            data = self.outer.recv(outer_pending)
            with self._ssl_lock:
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
        with self._ssl_lock:
            while not self._eof and (self._incoming.pending or self._incoming.eof):
                chunk = self._read_decrypted(RECV_SIZE)
                if not chunk:
                    break
                self._plain += chunk

    def sendall(self, data: Buffer) -> None:
        """See Transport.sendall; encrypts record by record and writes the outer transport every
        ``TLS_FLUSH_SIZE`` bytes, so memory stays bounded and small messages share one write."""
        view = memoryview(data)
        while view:
            with self._ssl_lock:
                try:
                    written = self._obj.write(view[:TLS_WRITE_CHUNK])
                except ssl.SSLWantReadError:
                    # Only a TLS 1.2 renegotiation can ask a writer to read; we do not support it.
                    raise ssl.SSLError("TLS renegotiation inside a proxy tunnel is not supported") from None
            view = view[written:]
            if self._outgoing.pending >= TLS_FLUSH_SIZE:
                self._flush()
        self._flush()

    def settimeout(self, timeout: float | None) -> None:
        """See Transport.settimeout: bounds each whole recv / handshake, and each outer write."""
        self._timeout = timeout
        self.outer.settimeout(timeout)

    def shutdown_write(self) -> None:
        """See Transport.shutdown_write; first a TLS close_notify, so the peer sees a clean end.

        TLS 1.3 (RFC 8446 section 6.1) lets us go on reading after our close_notify. Memory BIOs
        never block, so unlike SSLSocket.unwrap() this cannot wait on a silent peer.
        """
        try:
            with self._ssl_lock:
                self._obj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError, ValueError):
            pass  # the peer's close_notify has not come yet (or the session is already gone)
        try:
            self._flush()
        except OSError:
            pass
        self.outer.shutdown_write()

    def close(self) -> None:
        """See Transport.close."""
        self.outer.close()

    def fileno(self) -> int:
        """See Transport.fileno."""
        return self.outer.fileno()


class PlainSocketTransport(SocketTransport):
    """A plain TCP socket for the Connection, one system call per read and per write.

    With a socket timeout, CPython polls before every recv and send; the Connection already
    polls before it reads, so here the socket stays blocking, reads follow that poll, and writes
    try ``send(MSG_DONTWAIT)`` first and poll for room (bounded by the send timeout) only when
    the peer's window is full. TLS sockets get TLSSocketTransport (SSLSocket.send takes
    no flags).
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self._send_timeout: float | None = None
        sock.settimeout(None)
        self._writable = select.poll()
        self._writable.register(sock.fileno(), select.POLLOUT)
        self._recv_timeout = 0.0  # the socket's SO_RCVTIMEO in seconds (0: none)

    def recv(self, size: int, deadline: float | None = None) -> bytes:
        """See Transport.recv (blocking until bytes or EOF come; ``recv_before`` is the timed read)."""
        if self._recv_timeout:
            self._set_recv_timeout(0.0)
        return self.sock.recv(size)

    def recv_before(self, size: int, deadline: float, now: float) -> bytes | None:
        """Like recv, but None once ``deadline`` (time.monotonic()) has passed without bytes;
        ``now`` is the clock read just before the call. Once the deadline has passed the read
        does not wait (bytes already there, else None).

        One system call, where poll-then-recv takes two: the kernel's receive timeout
        (SO_RCVTIMEO) bounds the read. It is set again only when it has drifted from the time
        left by more than RECV_TIMEOUT_SLACK of it, so the read may end that much late, or early
        (None before the deadline: the caller asks again).
        """
        try:
            return self.sock.recv(size, self._timed(deadline - now))
        except BlockingIOError:  # EAGAIN: the receive timeout expired (or nothing came in time)
            return None

    def recv_into(self, view: memoryview, deadline: float | None = None) -> int | None:
        """Read into ``view`` (a large payload's buffer): the byte count, 0 at EOF; with
        ``deadline``, None once it passed without bytes (as ``recv_before``)."""
        if deadline is None:
            if self._recv_timeout:
                self._set_recv_timeout(0.0)
            return self.sock.recv_into(view)
        try:
            return self.sock.recv_into(view, 0, self._timed(deadline - time.monotonic()))
        except BlockingIOError:
            return None

    def _timed(self, left: float) -> int:
        """The flags of a read that must end within ``left`` seconds, its receive timeout set:
        0, or MSG_DONTWAIT once the time has passed (the read must not wait)."""
        if left <= 0:
            return _DONTWAIT
        # A read started now gives up after the timeout set earlier: late by this much (or early).
        drift = self._recv_timeout - left
        slack = left * RECV_TIMEOUT_SLACK
        if slack < RECV_TIMEOUT_MIN_SLACK:
            slack = RECV_TIMEOUT_MIN_SLACK
        if not self._recv_timeout or drift > slack or drift < -slack:
            self._set_recv_timeout(left)
        return 0

    def _set_recv_timeout(self, seconds: float) -> None:
        value = timeval(seconds) if seconds else _NO_TIMEOUT
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        self._recv_timeout = seconds

    def settimeout(self, timeout: float | None) -> None:
        """The send timeout: how long a write may wait for the peer to make room."""
        self._send_timeout = timeout

    def pending(self) -> int:
        """Always 0: a plain socket holds no decrypted bytes."""
        return 0

    def sendall(self, data: Buffer) -> None:
        """Write everything; TimeoutError when the peer takes nothing for the send timeout."""
        try:
            sent = self.sock.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        if sent == len(data):  # the common case: the kernel took it all at once
            return
        view = memoryview(data)[sent:]
        while view:
            try:
                sent = self.sock.send(view, socket.MSG_DONTWAIT)
            except BlockingIOError:
                self._wait_writable()
                continue
            view = view[sent:]

    def _wait_writable(self) -> None:
        timeout = None if self._send_timeout is None else int(self._send_timeout * 1000)
        if not self._writable.poll(timeout):
            raise TimeoutError("the peer read nothing for the send timeout")


class TLSSocketTransport(SocketTransport):
    """An ``ssl.SSLSocket`` for the Connection, in non-blocking mode.

    A blocking TLS read waits for a whole record with the socket's timeout, which is the send
    timeout that writers share: half a record made ``recv(timeout=3)`` wait 30 s. Here reads and
    writes wait in ``poll`` for their own deadline instead: a read gives up at the caller's
    ``deadline`` (TimeoutError; the rest of the record stays buffered in OpenSSL for the next
    read), a write when the peer makes no room for the send timeout.
    """

    def __init__(self, sock: ssl.SSLSocket) -> None:
        super().__init__(sock)
        self._timeout = sock.gettimeout()
        sock.settimeout(0.0)
        self._readable = select.poll()
        self._readable.register(sock.fileno(), select.POLLIN)
        self._writable = select.poll()
        self._writable.register(sock.fileno(), select.POLLOUT)

    def settimeout(self, timeout: float | None) -> None:
        """How long a read (without a deadline) or a write may wait for the peer."""
        self._timeout = timeout

    def recv(self, size: int, deadline: float | None = None) -> bytes:
        """See Transport.recv."""
        if deadline is None and self._timeout is not None:
            deadline = time.monotonic() + self._timeout
        while True:
            try:
                return self.sock.recv(size)
            except ssl.SSLWantReadError:
                self._wait(self._readable, deadline)
            except ssl.SSLWantWriteError:
                self._wait(self._writable, deadline)

    def sendall(self, data: Buffer) -> None:
        """See Transport.sendall; TimeoutError when the peer takes nothing for the send timeout."""
        view = memoryview(data)
        while view:
            deadline = None if self._timeout is None else time.monotonic() + self._timeout
            try:
                sent = self.sock.send(view)
            except ssl.SSLWantWriteError:
                self._wait(self._writable, deadline)
                continue
            except ssl.SSLWantReadError:
                self._wait(self._readable, deadline)
                continue
            view = view[sent:]

    @staticmethod
    def _wait(poller: select.poll, deadline: float | None) -> None:
        timeout = None if deadline is None else max(0, math.ceil((deadline - time.monotonic()) * 1000))
        if not poller.poll(timeout):
            raise TimeoutError("the TLS peer sent only part of a record, or took nothing, in time")


_NO_TIMEOUT = _TIMEVAL.pack(0, 0)  # an all-zero timeval: reads and writes wait as long as it takes


def timeval(seconds: float) -> bytes:
    """``seconds`` (> 0) as a ``struct timeval`` for SO_RCVTIMEO / SO_SNDTIMEO (socket(7)): never
    all zero, which would mean no timeout at all, and clamped to what a timeval holds."""
    whole = min(int(seconds), _MAX_TIMEVAL_SECONDS)
    micros = int((seconds - whole) * _MICROS) if whole < _MAX_TIMEVAL_SECONDS else 0
    if not whole and not micros:
        micros = 1
    return _TIMEVAL.pack(whole, micros)


def wrap_socket(sock: socket.socket) -> SocketTransport:
    """The Transport for a connected socket whose opening phase is over (no more blocking reads
    outside the Connection's poll): PlainSocketTransport for TCP, TLSSocketTransport for TLS."""
    if isinstance(sock, ssl.SSLSocket):
        return TLSSocketTransport(sock)
    if not hasattr(socket, "MSG_DONTWAIT"):
        return SocketTransport(sock)
    return PlainSocketTransport(sock)


def for_connection(transport: Transport) -> Transport:
    """``transport`` as the Connection should use it: a plain socket gets PlainSocketTransport."""
    if type(transport) is SocketTransport:
        return wrap_socket(transport.sock)
    return transport
