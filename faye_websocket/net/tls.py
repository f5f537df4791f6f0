"""Client TLS settings: an ssl.SSLContext from the ``tls=`` option, verifying by default.

``tls`` may be an ``ssl.SSLContext`` (used as given: custom CA, client certificate, ciphers,
...), a dict of simple options, or None. Without a context, certificates are verified against
certifi's CA bundle and the host name is checked, as a browser would. Python's ssl has no
verify callback, so pinning is the ``fingerprint`` option: the SHA-256 of the server's
certificate (as urllib3's ``assert_fingerprint``), checked after the handshake, in addition to
the usual verification (combine it with ``verify=False`` to pin a self-signed certificate).
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import certifi

# The simple options, named as in ssl.wrap_socket / requests; "ca_certs" and "cafile" are aliases.
TLS_OPTIONS = frozenset(
    {
        "ca_certs",
        "cafile",
        "capath",
        "certfile",
        "keyfile",
        "password",
        "verify",
        "server_hostname",
        "fingerprint",
    }
)
SHA256_HEX_DIGITS = 64
# RFC 6455 section 4.1 runs the handshake over HTTP/1.1; offering only it keeps ALPN servers from
# picking h2 (RFC 7301).
ALPN_PROTOCOLS = ["http/1.1"]

_default_lock = threading.Lock()
_default_context: ssl.SSLContext | None = None


@dataclass(frozen=True)
class TLSSettings:
    """The context to wrap with, the SNI / certificate host name (None: the URL's host), and the
    pinned SHA-256 of the server's certificate (None: no pinning)."""

    context: ssl.SSLContext
    server_hostname: str | None = None
    fingerprint: bytes | None = None

    def check_peer(self, certificate: bytes | None) -> None:
        """Raise ssl.SSLCertVerificationError unless the peer's DER certificate matches the pin."""
        if self.fingerprint is None:
            return
        actual = hashlib.sha256(certificate or b"").digest()
        if certificate is None or not hmac.compare_digest(actual, self.fingerprint):
            expected = self.fingerprint.hex()
            # (errno, message): an SSLError built from the message alone prints as a tuple.
            raise ssl.SSLCertVerificationError(
                None, f"certificate fingerprint mismatch: expected sha256 {expected}, got {actual.hex()}"
            )


def parse_fingerprint(value: str) -> bytes:
    """The 32 bytes of a SHA-256 fingerprint written in hex, with or without colons."""
    digits = value.replace(":", "").strip().lower()
    if len(digits) != SHA256_HEX_DIGITS:
        raise ValueError(f"fingerprint must be a SHA-256 in hex (64 digits), got {value!r}")
    return bytes.fromhex(digits)


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
    fingerprint = parse_fingerprint(tls["fingerprint"]) if tls.get("fingerprint") else None
    return TLSSettings(_context_from_options(tls), tls.get("server_hostname"), fingerprint)
