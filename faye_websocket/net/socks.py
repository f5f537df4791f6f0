"""SOCKS proxy handshakes, without I/O: SOCKS5 (RFC 1928) with no authentication or
username/password (RFC 1929), and SOCKS4 / SOCKS4a (the NEC protocol notes, no RFC).

The dialer (net/dial.py) writes ``data_to_send()`` to the proxy, feeds its answers to
``receive_data`` until that returns True, writing whatever ``data_to_send()`` holds after each
feed (SOCKS5 takes up to three round trips: method, credentials, CONNECT). Then ``error`` says
whether the tunnel is open, and ``leftover`` holds bytes that came after the final reply (the
start of the tunnelled stream, which a server may send at once).

Who resolves the target's name follows curl's schemes: ``socks5h`` and ``socks4a`` send the
name to the proxy (remote DNS); ``socks5`` and ``socks4`` send an address the caller looked up
(``target_address``). Credentials never appear in messages.
"""

from __future__ import annotations

import ipaddress
import struct
from enum import Enum

from ..errors import ProxyError

SOCKS_DEFAULT_PORT = 1080  # RFC 1928 section 3: "conventionally located on TCP port 1080"

# RFC 1928 section 3 and 4: protocol version, methods, command, address types.
SOCKS5_VERSION = 0x05
METHOD_NO_AUTH = 0x00
METHOD_USERNAME_PASSWORD = 0x02
METHOD_NONE_ACCEPTABLE = 0xFF
CMD_CONNECT = 0x01
ATYP_IPV4 = 0x01
ATYP_DOMAIN = 0x03
ATYP_IPV6 = 0x04
ADDRESS_LENGTHS = {ATYP_IPV4: 4, ATYP_IPV6: 16}
REPLY_HEAD_SIZE = 4  # VER REP RSV ATYP
PORT_SIZE = 2
MAX_FIELD = 255  # one length octet: domain names (RFC 1928 section 5), UNAME and PASSWD (RFC 1929)

# RFC 1929 section 2: the sub-negotiation's own version number, and its success status.
USERPASS_VERSION = 0x01
USERPASS_SUCCESS = 0x00

# SOCKS4 ("SOCKS: A protocol for TCP proxy across firewalls", Ying-Da Lee) and SOCKS4a
# ("SOCKS 4A: A Simple Extension to SOCKS 4 Protocol"): an 8-byte reply whose second byte is the
# result; 90 grants. SOCKS4a marks "the proxy resolves" with the address 0.0.0.x, x non-zero.
SOCKS4_VERSION = 0x04
SOCKS4_REPLY_SIZE = 8
SOCKS4_GRANTED = 90
SOCKS4A_MARKER = bytes((0, 0, 0, 1))

# RFC 1928 section 6: the REP field.
SOCKS5_REPLIES = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}
SOCKS4_REPLIES = {
    91: "request rejected or failed",
    92: "request rejected: the proxy cannot reach the client's identd",
    93: "request rejected: identd reports a different user id",
}


class SocksVersion(Enum):
    """The SOCKS flavours, by URL scheme (curl's names)."""

    SOCKS4 = "socks4"
    SOCKS4A = "socks4a"
    SOCKS5 = "socks5"
    SOCKS5H = "socks5h"

    @property
    def remote_dns(self) -> bool:
        """True when the proxy resolves the target's name (socks4a, socks5h)."""
        return self in (SocksVersion.SOCKS4A, SocksVersion.SOCKS5H)


SOCKS_SCHEMES = frozenset(version.value for version in SocksVersion)


class _Step(Enum):
    """Where a SOCKS5 exchange stands: which reply it waits for."""

    METHOD = "method"
    CREDENTIALS = "credentials"
    CONNECT = "connect"
    DONE = "done"


class SocksHandshake:
    """One SOCKS CONNECT exchange for ``target_host:target_port``; used on the dialing thread.

    ``target_address`` is the IP address to ask for with socks4 / socks5 (the caller resolved
    the name); with socks4a / socks5h the name itself is sent and the address is ignored.
    Raises ValueError before any I/O for what the protocol cannot carry: a name or credential
    over 255 bytes, an IPv6 target through SOCKS4, a socks4 / socks5 target without an address.
    """

    def __init__(
        self,
        version: SocksVersion,
        target_host: str,
        target_port: int,
        *,
        target_address: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.version = version
        self.target = f"{target_host}:{target_port}"
        self._port = struct.pack("!H", target_port)
        self._credentials = _credentials(username, password)
        self._address = _destination(version, target_host, target_address)
        self._buffer = b""
        self._outgoing = self._greeting()
        self._step = _Step.METHOD
        self.leftover = b""
        self.error: ProxyError | None = None
        self.complete = False

    # -- the exchange ---------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Bytes to write to the proxy now (the greeting first, then each step's request)."""
        data, self._outgoing = self._outgoing, b""
        return data

    def receive_data(self, data: bytes) -> bool:
        """Feed the proxy's bytes; True once the exchange is over (``error`` tells how).

        Bytes fed after the final reply belong to the tunnelled stream: they join ``leftover``.
        """
        if self.complete:
            if self.error is None:
                self.leftover += data
            return True
        self._buffer += data
        try:
            if self.version in (SocksVersion.SOCKS4, SocksVersion.SOCKS4A):
                self._socks4_reply()
            else:
                self._socks5_replies()
        except ProxyError as error:
            self.error = error
            self.complete = True
        return self.complete

    def receive_eof(self) -> None:
        """The proxy closed the connection before the exchange was over."""
        if not self.complete:
            self.complete = True
            self.error = self._failure("the proxy closed the connection")

    # -- requests -------------------------------------------------------------------------------

    def _greeting(self) -> bytes:
        if self.version in (SocksVersion.SOCKS4, SocksVersion.SOCKS4A):
            return self._socks4_request()
        # RFC 1928 section 3: username/password is offered only when we have credentials; the
        # proxy picks one (a proxy without authentication picks "none", as curl relies on).
        methods = [METHOD_NO_AUTH] + ([METHOD_USERNAME_PASSWORD] if self._credentials is not None else [])
        return bytes([SOCKS5_VERSION, len(methods), *methods])

    def _socks4_request(self) -> bytes:
        # VN CD DSTPORT DSTIP USERID NUL [HOSTNAME NUL]; the user id carries the username, if any.
        user = (self._credentials[0] if self._credentials else b"") + b"\0"
        head = bytes([SOCKS4_VERSION, CMD_CONNECT]) + self._port
        if self._address[0] == ATYP_DOMAIN:  # socks4a with a name: the proxy resolves it
            return head + SOCKS4A_MARKER + user + self._address[2:] + b"\0"
        return head + self._address[1:] + user

    def _socks5_connect(self) -> bytes:
        # RFC 1928 section 4: VER CMD RSV ATYP DST.ADDR DST.PORT
        return bytes([SOCKS5_VERSION, CMD_CONNECT, 0x00]) + self._address + self._port

    def _userpass(self) -> bytes:
        # RFC 1929 section 2: VER ULEN UNAME PLEN PASSWD
        assert self._credentials is not None
        user, password = self._credentials
        return bytes([USERPASS_VERSION, len(user)]) + user + bytes([len(password)]) + password

    # -- replies --------------------------------------------------------------------------------

    def _socks4_reply(self) -> None:
        if len(self._buffer) < SOCKS4_REPLY_SIZE:
            return
        reply, self.leftover = self._buffer[:SOCKS4_REPLY_SIZE], self._buffer[SOCKS4_REPLY_SIZE:]
        self.complete = True
        if reply[1] != SOCKS4_GRANTED:
            detail = SOCKS4_REPLIES.get(reply[1], f"unknown reply code {reply[1]}")
            raise self._failure(detail)

    def _socks5_replies(self) -> None:
        # A proxy may answer several steps in one segment only after we asked; each loop pass
        # consumes one complete reply.
        while not self.complete:
            needed = self._reply_size()
            if needed is None or len(self._buffer) < needed:
                return
            reply, self._buffer = self._buffer[:needed], self._buffer[needed:]
            self._on_reply(reply)

    def _reply_size(self) -> int | None:
        """Bytes of the reply awaited now, None while too few have come to tell."""
        if self._step in (_Step.METHOD, _Step.CREDENTIALS):
            return 2
        if len(self._buffer) < REPLY_HEAD_SIZE + 1:
            return None
        atyp = self._buffer[3]
        if atyp == ATYP_DOMAIN:
            return REPLY_HEAD_SIZE + 1 + self._buffer[4] + PORT_SIZE
        if atyp in ADDRESS_LENGTHS:
            return REPLY_HEAD_SIZE + ADDRESS_LENGTHS[atyp] + PORT_SIZE
        if self._buffer[1] != 0:
            return REPLY_HEAD_SIZE  # a failure reply with a junk address: the code is what counts
        raise self._failure(f"invalid reply: address type {atyp}")

    def _on_reply(self, reply: bytes) -> None:
        if self._step is _Step.METHOD:
            self._on_method(reply)
        elif self._step is _Step.CREDENTIALS:
            # RFC 1929 section 2: any STATUS other than X'00' is a failure.
            if reply[1] != USERPASS_SUCCESS:
                raise self._failure("the proxy refused the username and password (RFC 1929)")
            self._send_connect()
        else:
            self._on_connect_reply(reply)

    def _on_method(self, reply: bytes) -> None:
        if reply[0] != SOCKS5_VERSION:
            raise self._failure(f"not a SOCKS5 proxy (version byte {reply[0]})")
        method = reply[1]
        if method == METHOD_USERNAME_PASSWORD and self._credentials is not None:
            self._outgoing += self._userpass()
            self._step = _Step.CREDENTIALS
        elif method == METHOD_NO_AUTH:
            self._send_connect()
        elif self._credentials is None:
            raise self._failure("the proxy requires authentication: give a username and password")
        else:
            raise self._failure("the proxy accepts none of the offered authentication methods")

    def _send_connect(self) -> None:
        self._outgoing += self._socks5_connect()
        self._step = _Step.CONNECT

    def _on_connect_reply(self, reply: bytes) -> None:
        self.complete = True
        self._step = _Step.DONE
        self.leftover, self._buffer = self._buffer, b""
        if reply[0] != SOCKS5_VERSION:
            raise self._failure(f"invalid reply: version byte {reply[0]}")
        if reply[1] != 0:
            raise self._failure(SOCKS5_REPLIES.get(reply[1], f"unknown reply code {reply[1]}"))

    def _failure(self, detail: str) -> ProxyError:
        return ProxyError(f"{self.version.value} proxy could not connect to {self.target}: {detail}")


def _credentials(username: str | None, password: str | None) -> tuple[bytes, bytes] | None:
    if username is None and password is None:
        return None
    user = (username or "").encode("utf-8")
    secret = (password or "").encode("utf-8")
    if not 0 < len(user) <= MAX_FIELD or len(secret) > MAX_FIELD:
        raise ValueError("a SOCKS username must be 1-255 bytes and a password at most 255 (RFC 1929)")
    return user, secret


def _destination(version: SocksVersion, host: str, address: str | None) -> bytes:
    """ATYP and DST.ADDR as SOCKS5 writes them (SOCKS4 uses the bytes after the first)."""
    literal = _ip(host)
    if literal is None and version.remote_dns:
        name = host.encode("idna") if not host.isascii() else host.encode("ascii")
        if len(name) > MAX_FIELD:
            raise ValueError(f"host name too long for SOCKS: {host[:40]}...")
        return bytes([ATYP_DOMAIN, len(name)]) + name
    ip = literal or (_ip(address) if address is not None else None)
    if ip is None:
        raise ValueError(f"{version.value} needs the target's address: resolve {host} first")
    if ip.version == 6:
        if version in (SocksVersion.SOCKS4, SocksVersion.SOCKS4A):
            raise ValueError(f"SOCKS4 cannot reach the IPv6 address {ip}: use socks5:// or socks5h://")
        return bytes([ATYP_IPV6]) + ip.packed
    return bytes([ATYP_IPV4]) + ip.packed


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
