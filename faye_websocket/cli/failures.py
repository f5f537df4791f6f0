"""One line for each way a connection attempt can fail, with what to do about it where we know.

The command line prints these instead of tracebacks: the exception types are the library's
documented ones (``HandshakeError``, ``ProxyError``, ``ssl`` and ``OSError`` failures).
"""

from __future__ import annotations

import errno
import socket
import ssl

from ..errors import ConnectionClosed, HandshakeError, ProxyError

# OpenSSL's reason when the peer's first bytes are not a TLS record: a plain ws:// server.
NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"})


def describe_connect_failure(error: BaseException) -> str:
    """Why ``connect`` failed, in one line (no type names, no traceback)."""
    if isinstance(error, ProxyError):
        return f"the proxy refused the tunnel: {_one_line(error)}"
    if isinstance(error, HandshakeError):
        return f"handshake failed: {_one_line(error)}"
    if isinstance(error, ConnectionClosed):
        return f"connection closed during the handshake: {error.code} {error.reason}".rstrip()
    if isinstance(error, ssl.SSLCertVerificationError):
        return (f"TLS: the server's certificate is not trusted ({error.verify_message or error.reason}); "
                "pass --ca FILE to trust its CA, or --insecure")
    if isinstance(error, ssl.SSLError):
        if error.reason in NOT_TLS_REASONS:
            return "TLS failed: the server does not speak TLS on that port (use ws:// instead of wss://)"
        if isinstance(error, ssl.SSLEOFError) or error.reason == "UNEXPECTED_EOF_WHILE_READING":
            return ("TLS failed: the server hung up during the TLS handshake "
                    "(if that port is plain HTTP, use ws:// instead of wss://)")
        return f"TLS failed: {error.reason or _one_line(error)}"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name: {error.strerror or _one_line(error)}"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: nothing listens on that host and port"
    if isinstance(error, TimeoutError):
        return f"timed out: {_one_line(error)}" if str(error) else "timed out"
    if isinstance(error, OSError) and error.strerror:
        return f"connection failed: {error.strerror}"
    return f"connection failed: {_one_line(error)}"


def describe_listen_failure(host: str, port: int, error: OSError) -> str:
    """Why ``serve`` could not listen on ``host``:``port``, in one line."""
    where = f"{host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is in use (choose another, or 0 for any free port)"
    if error.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: {host} is not an address of this machine"
    if isinstance(error, socket.gaierror):
        return f"cannot listen on {where}: unknown host ({error.strerror})"
    return f"cannot listen on {where}: {error.strerror or _one_line(error)}"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
