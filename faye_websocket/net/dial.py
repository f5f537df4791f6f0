"""The client's opening phase: TCP connect, optional proxy tunnel (HTTP CONNECT, with TLS to an
https proxy, or a SOCKS handshake), optional TLS to the origin, all under one deadline; the result
is a Transport ready for the WebSocket handshake, plus any bytes already read past the proxy's reply.
Each hop is logged at DEBUG under the connection's id (logs.py).

Runs on the client's connection thread; ``abort()`` may be called from any other thread to wake
it (the socket is shut down, and ``open()`` raises ConnectionAbortedError).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from ..driver.proxy import ProxyHandshake, authority
from ..driver.url import WebSocketURL
from ..logs import logger
from .deadline import Deadline
from .flag import Flag
from .proxies import ProxyConfig
from .socks import SocksHandshake, SocksVersion
from .tls import TLSSettings, tls_settings
from .transport import SocketTransport, TLSInTLS, Transport

PROXY_READ_SIZE = 4096  # a CONNECT reply head is a few hundred bytes


@dataclass
class Opened:
    """The outcome of the opening phase."""

    transport: Transport
    leftover: bytes = b""  # bytes read after the proxy's reply: the start of the origin's stream
    proxy_status: int | None = None


AddressInfo = list[tuple[Any, Any, int, str, Any]]


@functools.lru_cache(maxsize=256)
def is_ip_literal(host: str) -> bool:
    """True for an IPv4 or IPv6 address (no lookup needed). Cached: a client connecting again
    and again asks about the same few hosts, and ipaddress parses in Python."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=256)
def _literal_addresses(host: str, port: int) -> tuple[tuple[Any, Any, int, str, Any], ...]:
    """getaddrinfo's answer for an IP address, which asks no resolver and never changes.
    Cached: each call costs about 14k instructions in the C library and the socket module's
    conversion of every family and type to its enum."""
    return tuple(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))


def resolve(host: str, port: int, timeout: float | None, wake: Flag | None = None) -> AddressInfo:
    """getaddrinfo under a deadline; TimeoutError when the resolver does not answer in time.

    getaddrinfo cannot be interrupted, so a name (not an IP literal) is looked up on a daemon
    thread that is left to finish on its own if the deadline passes first, or if another thread
    sets ``wake`` (an abort: ConnectionAbortedError).
    """
    if is_ip_literal(host):
        return list(_literal_addresses(host, port))
    if timeout is None and wake is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    result: list[AddressInfo | BaseException] = []
    done = wake or Flag()

    def lookup() -> None:
        try:
            result.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as error:  # handed to the waiting thread
            result.append(error)
        done.set()

    threading.Thread(target=lookup, name="faye_websocket-resolve", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"DNS lookup of {host} timed out after {timeout:.3g} s")
    if not result:
        raise ConnectionAbortedError(f"DNS lookup of {host} aborted")
    outcome = result[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


class Opener:
    """Connects to ``target``, through ``proxy`` when given; one use, on one thread.

    ``sock`` is an already connected socket to the first hop (the proxy if there is one, else
    the origin). ``tls`` configures TLS to the origin (wss); ``proxy.tls`` TLS to an https proxy.
    """

    def __init__(
        self,
        target: WebSocketURL,
        *,
        proxy: ProxyConfig | None = None,
        tls: TLSSettings | None = None,
        timeout: float | None = None,
        sock: socket.socket | None = None,
        log_id: str = "",
    ) -> None:
        self.target = target
        self.proxy = proxy
        self.tls = tls
        self.log_id = log_id  # the connection's id in debug lines
        # Built now, so that a bad proxy "tls" option, header or SOCKS field fails before any I/O.
        self._proxy_tls = tls_settings(proxy.tls) if proxy is not None and proxy.secure else None
        http_proxy = proxy is not None and proxy.socks is None
        self._proxy_handshake = _proxy_handshake(target, proxy) if http_proxy and proxy else None
        if proxy is not None and proxy.socks is not None:
            _socks_handshake(target, proxy, "0.0.0.0")  # checks lengths and address families
        self.deadline = Deadline(timeout, f"connecting to {target.host}:{target.port}")
        self._given_socket = sock
        self._lock = threading.Lock()  # guards _socket and _aborted between open() and abort()
        self._socket: socket.socket | None = None
        self._aborted = False
        self._done = False  # open() returned or raised: abort() must not touch the socket any more
        self._wake = Flag()  # set by abort(): ends a wait for the DNS lookup

    def open(self) -> Opened:
        """Run every step; raises OSError, TimeoutError, ssl.SSLError or ProxyError (socket closed)."""
        try:
            return self._open()
        finally:
            with self._lock:
                self._done = True

    def _open(self) -> Opened:
        sock = self._given_socket
        if sock is None:
            sock = self._connect_tcp()  # tracked as it was made
        else:
            self._track(sock)
        transport: Transport = SocketTransport(sock)
        try:
            leftover, status = b"", None
            if self.proxy is not None:
                kind = "" if self.proxy.socks is None else f"{self.proxy.socks.value} "
                where = f"{kind}proxy {authority(self.proxy.host, self.proxy.port)}"
                if self._proxy_tls is not None:
                    transport = self._start_tls(transport, self._proxy_tls, self.proxy.host, where)
                handshake = self._proxy_handshake or self._socks_for_target(self.proxy)
                leftover, status = self._tunnel(transport, handshake, where)
                logger.debug("%s %s: tunnel to %s open", self.log_id, where,
                             authority(self.target.host, self.target.port))
            if self.target.secure:
                settings = self.tls or tls_settings(None)
                where = f"origin {authority(self.target.host, self.target.port)}"
                transport = self._start_tls(transport, settings, self.target.host, where, leftover)
                leftover = b""
            transport.settimeout(None)
            return Opened(transport, leftover, status)
        except BaseException:
            transport.close()
            self._close_tracked()  # e.g. an SSLSocket whose handshake failed: it owns the descriptor now
            if self._aborted:
                raise ConnectionAbortedError(f"{self.deadline.what}: aborted") from None
            raise

    def abort(self) -> None:
        """Wake a blocked ``open()`` from another thread; it then raises ConnectionAbortedError.

        Does nothing once ``open()`` has finished (the socket then belongs to the connection).
        """
        with self._lock:
            if self._done:
                return
            self._aborted = True
            sock = self._socket
        self._wake.set()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _close_tracked(self) -> None:
        with self._lock:
            sock = self._socket
        if sock is not None:
            sock.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._socket = sock
            aborted = self._aborted
        if aborted:
            sock.close()
            raise ConnectionAbortedError(f"{self.deadline.what}: aborted")

    def _connect_tcp(self) -> socket.socket:
        hop = self.proxy or self.target
        where = f"{'proxy' if self.proxy else 'origin'} {authority(hop.host, hop.port)}"
        try:
            sock = self._connect_hop(hop.host, hop.port, f"TCP connect to the {where}")
            logger.debug("%s TCP connected to the %s", self.log_id, where)
            return sock
        except (TimeoutError, ConnectionAbortedError):
            raise  # their messages already say what ran out or who stopped it
        except OSError as exc:
            # With a proxy (perhaps from the environment) "Connection refused" under the origin's
            # URL points at the wrong machine; name the host this was about.
            raise _naming(exc, where) from exc

    def _connect_hop(self, host: str, port: int, step: str) -> socket.socket:
        infos = resolve(host, port, self.deadline.remaining("DNS lookup"), self._wake)
        error: OSError = OSError(f"no address for {host}")
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            self._track(sock)
            try:
                sock.settimeout(self.deadline.remaining(step))
                sock.connect(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # frames are small: no Nagle
                return sock
            except TimeoutError as exc:
                sock.close()
                raise self.deadline.expired(step) from exc
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    def _start_tls(
        self, transport: Transport, settings: TLSSettings, host: str, where: str, initial: bytes = b""
    ) -> Transport:
        """TLS to the proxy or the origin (``where`` names it in certificate errors)."""
        try:
            return self._tls_handshake(transport, settings, host, where, initial)
        except ssl.SSLCertVerificationError as exc:
            # Through an https proxy two certificates are checked; say whose was refused.
            raise _naming(exc, f"certificate presented by the {where}; trusted: {settings.trust}") from exc
        except ssl.SSLError as exc:
            if self._aborted:
                raise
            raise _naming(exc, f"TLS with the {where}") from exc

    def _tls_handshake(
        self, transport: Transport, settings: TLSSettings, host: str, where: str, initial: bytes
    ) -> Transport:
        hostname = settings.server_hostname or host
        if (
            isinstance(transport, SocketTransport)
            and not isinstance(transport.sock, ssl.SSLSocket)
            and not initial
        ):
            tls_sock = settings.context.wrap_socket(
                transport.sock, server_hostname=hostname, do_handshake_on_connect=False
            )
            self._track(tls_sock)
            step = f"TLS handshake with the {where}"
            tls_sock.settimeout(self.deadline.remaining(step))
            self._timed(tls_sock.do_handshake, step)
            settings.check_peer(tls_sock.getpeercert(binary_form=True))
            return SocketTransport(tls_sock)
        # An SSLSocket cannot be wrapped again (SSL UNEXPECTED_MESSAGE): TLS inside TLS via memory BIOs.
        inner = TLSInTLS(transport, settings.context, hostname, initial)
        step = f"TLS handshake with the {where} in the tunnel"
        inner.settimeout(self.deadline.remaining(step))  # bounds the whole handshake
        self._timed(inner.handshake, step)
        settings.check_peer(inner.ssl_object.getpeercert(binary_form=True))
        return inner

    def _timed(self, step: Callable[[], None], name: str) -> None:
        try:
            step()
        except TimeoutError as exc:
            raise self.deadline.expired(name) from exc

    def _socks_for_target(self, proxy: ProxyConfig) -> SocksHandshake:
        """The SOCKS exchange; for socks4 / socks5 the target's name is resolved here first."""
        assert proxy.socks is not None
        address = None
        if not proxy.socks.remote_dns:
            left = self.deadline.remaining("DNS lookup")
            infos = resolve(self.target.host, self.target.port, left, self._wake)
            if proxy.socks is SocksVersion.SOCKS4:  # SOCKS4 carries IPv4 addresses only
                infos = [info for info in infos if info[0] == socket.AF_INET] or infos
            address = str(infos[0][4][0]) if infos else None
        return _socks_handshake(self.target, proxy, address)

    def _tunnel(
        self, transport: Transport, handshake: ProxyHandshake | SocksHandshake, where: str
    ) -> tuple[bytes, int | None]:
        try:
            return self._exchange(transport, handshake)
        except (TimeoutError, ConnectionAbortedError):
            raise
        except OSError as exc:
            if self._aborted:
                raise
            step = "CONNECT to" if isinstance(handshake, ProxyHandshake) else "handshake with"
            raise _naming(exc, f"{step} the {where}") from exc

    def _exchange(
        self, transport: Transport, handshake: ProxyHandshake | SocksHandshake
    ) -> tuple[bytes, int | None]:
        """Write the request, feed replies until the exchange is over (SOCKS5 has up to three
        round trips: each reply may leave a next request in ``data_to_send()``)."""
        socks: SocksHandshake | None = None
        if isinstance(handshake, SocksHandshake):
            socks, outgoing = handshake, handshake.data_to_send()
            step = f"{handshake.version.value} handshake"
        else:
            step, outgoing = "proxy CONNECT", handshake.request()
        while True:
            transport.settimeout(self.deadline.remaining(step))
            if outgoing:
                transport.sendall(outgoing)
            data = self._recv(transport, step)
            if not data:
                handshake.receive_eof()
                break
            done = handshake.receive_data(data)
            outgoing = b"" if socks is None else socks.data_to_send()
            if done:
                break
        if handshake.error is not None:
            raise handshake.error
        return handshake.leftover, None if isinstance(handshake, SocksHandshake) else handshake.status_code

    def _recv(self, transport: Transport, name: str) -> bytes:
        try:
            data: bytes = transport.recv(PROXY_READ_SIZE)
        except TimeoutError as exc:
            raise self.deadline.expired(name) from exc
        return data


def _proxy_handshake(target: WebSocketURL, proxy: ProxyConfig) -> ProxyHandshake:
    """The CONNECT exchange for ``target``; ValueError for a header that would break its head."""
    handshake = ProxyHandshake(
        target.host, target.port, username=proxy.username, password=proxy.password, headers=proxy.headers
    )
    handshake.request()  # serialising checks every field name and value
    return handshake


def _socks_handshake(target: WebSocketURL, proxy: ProxyConfig, address: str | None) -> SocksHandshake:
    """The SOCKS exchange for ``target`` (``address``: its resolved IP for socks4 / socks5)."""
    assert proxy.socks is not None
    return SocksHandshake(proxy.socks, target.host, target.port, target_address=address,
                          username=proxy.username, password=proxy.password)


_ErrorType = TypeVar("_ErrorType", bound=OSError)


def _naming(error: _ErrorType, where: str) -> _ErrorType:
    """``error`` again (same type, errno and attributes), its message ending with ``where``."""
    args: tuple[Any, ...]
    if isinstance(error, ssl.SSLError):
        # SSLError prints its strerror alone; built from one argument it would print a tuple.
        text = error.strerror or (error.args[0] if len(error.args) == 1 else str(error))
        args = (error.errno, f"{text}; {where}")
    elif error.errno is None:
        args = (f"{error} ({where})",)
    else:
        args = (error.errno, f"{error.strerror} ({where})")
    try:
        named = type(error)(*args)
    except TypeError:  # a subclass with a constructor of its own: keep it as it was
        return error
    for attribute in ("verify_code", "verify_message", "reason", "library"):
        if hasattr(error, attribute):
            setattr(named, attribute, getattr(error, attribute))
    return named
