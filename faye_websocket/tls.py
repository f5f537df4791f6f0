"""Client TLS settings: an ssl.SSLContext from the ``tls=`` option, verifying by default.

``tls`` may be an ``ssl.SSLContext`` (used as given: custom CA, client certificate, pinning in a
verify callback, ...), a dict of simple options, or None. Without a context, certificates are
verified against certifi's CA bundle and the host name is checked, as a browser would.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import certifi

# The simple options, named as in ssl.wrap_socket / requests; "ca_certs" and "cafile" are aliases.
TLS_OPTIONS = frozenset(
    {"ca_certs", "cafile", "capath", "certfile", "keyfile", "password", "verify", "server_hostname"}
)
# RFC 6455 section 4.1 runs the handshake over HTTP/1.1; offering only it keeps ALPN servers from
# picking h2 (RFC 7301).
ALPN_PROTOCOLS = ["http/1.1"]

_default_lock = threading.Lock()
_default_context: ssl.SSLContext | None = None


@dataclass(frozen=True)
class TLSSettings:
    """The context to wrap with and the SNI / certificate host name (None: the URL's host)."""

    context: ssl.SSLContext
    server_hostname: str | None = None


def default_context() -> ssl.SSLContext:
    """The shared verifying context with certifi's CA bundle (built once; contexts are thread-safe)."""
    global _default_context
    with _default_lock:
        if _default_context is None:
            context = ssl.create_default_context(cafile=certifi.where())
            context.set_alpn_protocols(ALPN_PROTOCOLS)
            _default_context = context
        return _default_context


def _context_from_options(options: Mapping[str, Any]) -> ssl.SSLContext:
    cafile = options.get("cafile") or options.get("ca_certs")
    capath = options.get("capath")
    if cafile or capath:
        context = ssl.create_default_context(cafile=cafile, capath=capath)
    elif "certfile" in options or options.get("verify") is False:
        context = ssl.create_default_context(cafile=certifi.where())
    else:
        return default_context()
    if options.get("verify") is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if options.get("certfile"):
        context.load_cert_chain(options["certfile"], options.get("keyfile"), options.get("password"))
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    return context


def tls_settings(tls: ssl.SSLContext | Mapping[str, Any] | None) -> TLSSettings:
    """Turn the ``tls=`` option into TLSSettings.

    Raises TypeError for an unknown option or a value of the wrong type, and ssl.SSLError or
    OSError when a certificate file cannot be loaded (before any connection is made).
    """
    if tls is None:
        return TLSSettings(default_context())
    if isinstance(tls, ssl.SSLContext):
        return TLSSettings(tls)
    if not isinstance(tls, Mapping):
        raise TypeError(f"tls must be an ssl.SSLContext or a dict of options, not {type(tls).__name__}")
    unknown = set(tls) - TLS_OPTIONS
    if unknown:
        raise TypeError(f"Unrecognized tls option: {', '.join(sorted(unknown))}")
    return TLSSettings(_context_from_options(tls), tls.get("server_hostname"))
