"""Client TLS settings: an ssl.SSLContext from the ``tls=`` option, verifying by default.

``tls`` may be an ``ssl.SSLContext`` (used as given: custom CA, client certificate, ciphers,
...), a dict of simple options, or None. Without a context, certificates are verified and the
host name is checked, as a browser would, against the trust source: by default certifi's CA
bundle plus the files named by ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set (as pip and
requests honour them: a private CA needs no code), or with ``{"trust": "system"}`` the operating
system's store as OpenSSL finds it (its default paths, which these variables override). A
certificate error names the source that refused (``TLSSettings.trust``). Python's ssl has no
verify callback, so pinning is the ``fingerprint`` option: the SHA-256 of the server's
certificate (as urllib3's ``assert_fingerprint``), checked after the handshake, in addition to
the usual verification (combine it with ``verify=False`` to pin a self-signed certificate).
"""

from __future__ import annotations

import hashlib
import hmac
import os
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
        "trust",
    }
)
TRUST_CERTIFI = "certifi"  # certifi's bundle plus SSL_CERT_FILE / SSL_CERT_DIR (the default)
TRUST_SYSTEM = "system"  # the operating system's store: OpenSSL's default verify paths
TRUST_SOURCES = (TRUST_CERTIFI, TRUST_SYSTEM)
CERT_FILE_VARIABLE = "SSL_CERT_FILE"  # the names OpenSSL, pip and requests read
CERT_DIR_VARIABLE = "SSL_CERT_DIR"
GIVEN_CONTEXT = "the ssl.SSLContext passed as tls="
SHA256_HEX_DIGITS = 64
# RFC 6455 section 4.1 runs the handshake over HTTP/1.1; offering only it keeps ALPN servers from
# picking h2 (RFC 7301).
ALPN_PROTOCOLS = ["http/1.1"]

_default_lock = threading.Lock()
# Shared verifying contexts by (trust source, SSL_CERT_FILE, SSL_CERT_DIR): the environment may
# change between connections (a test, a long-running program), and each context is built once.
_default_contexts: dict[tuple[str, str, str], tuple[ssl.SSLContext, str]] = {}


@dataclass(frozen=True)
class TLSSettings:
    """The context to wrap with, the SNI / certificate host name (None: the URL's host), and the
    pinned SHA-256 of the server's certificate (None: no pinning); ``trust`` says which
    certificates the context trusts, for error messages."""

    context: ssl.SSLContext
    server_hostname: str | None = None
    fingerprint: bytes | None = None
    trust: str = GIVEN_CONTEXT

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


def default_context(trust: str = TRUST_CERTIFI) -> ssl.SSLContext:
    """The shared verifying context for ``trust`` (built once per environment; thread-safe)."""
    return _shared(trust)[0]


def _shared(trust: str) -> tuple[ssl.SSLContext, str]:
    """The shared context for ``trust`` and its description; OSError for a missing CA file."""
    key = (trust, os.environ.get(CERT_FILE_VARIABLE, ""), os.environ.get(CERT_DIR_VARIABLE, ""))
    with _default_lock:
        if key not in _default_contexts:
            context, description = _trusting(trust)
            context.set_alpn_protocols(ALPN_PROTOCOLS)
            _default_contexts[key] = (context, description)
        return _default_contexts[key]


def _trusting(trust: str) -> tuple[ssl.SSLContext, str]:
    """A new verifying context for the trust source, and what it trusts in words."""
    if trust == TRUST_SYSTEM:
        # create_default_context() loads OpenSSL's default paths, which honour the variables.
        paths = ssl.get_default_verify_paths()
        return ssl.create_default_context(), (
            f"the system store ({paths.openssl_cafile_env}={paths.cafile or paths.openssl_cafile}, "
            f"{paths.openssl_capath_env}={paths.capath or paths.openssl_capath})"
        )
    context = ssl.create_default_context(cafile=certifi.where())
    sources = [f"certifi ({certifi.where()})"]
    cert_file, cert_dir = os.environ.get(CERT_FILE_VARIABLE), os.environ.get(CERT_DIR_VARIABLE)
    if cert_file:
        context.load_verify_locations(cafile=cert_file)
        sources.append(f"{CERT_FILE_VARIABLE}={cert_file}")
    if cert_dir:
        context.load_verify_locations(capath=cert_dir)
        sources.append(f"{CERT_DIR_VARIABLE}={cert_dir}")
    if not (cert_file or cert_dir):
        sources.append(f"nothing from {CERT_FILE_VARIABLE} / {CERT_DIR_VARIABLE} (unset)")
    return context, " + ".join(sources)


def _context_from_options(options: Mapping[str, Any]) -> tuple[ssl.SSLContext, str]:
    cafile = options.get("cafile") or options.get("ca_certs")
    capath = options.get("capath")
    trust = options.get("trust", TRUST_CERTIFI)
    if trust not in TRUST_SOURCES:
        raise ValueError(f"tls trust must be one of {', '.join(TRUST_SOURCES)}, got {trust!r}")
    if cafile or capath:
        context = ssl.create_default_context(cafile=cafile, capath=capath)
        description = ", ".join(f"{name}={value}" for name, value in (("cafile", cafile), ("capath", capath))
                                if value)
    elif options.get("certfile") or options.get("verify") is False:
        context, description = _trusting(trust)  # a context of its own: it is changed below
    else:
        return _shared(trust)
    if options.get("verify") is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        description = "nothing: verification is off (verify=False)"
    if options.get("certfile"):
        context.load_cert_chain(options["certfile"], options.get("keyfile"), options.get("password"))
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    return context, description


def tls_settings(tls: ssl.SSLContext | Mapping[str, Any] | None) -> TLSSettings:
    """Turn the ``tls=`` option into TLSSettings.

    Raises TypeError for an unknown option or a value of the wrong type, ValueError for an
    unknown ``trust``, and ssl.SSLError or OSError when a certificate file (``SSL_CERT_FILE``
    included) cannot be loaded (before any connection is made).
    """
    if tls is None:
        context, description = _shared(TRUST_CERTIFI)
        return TLSSettings(context, trust=description)
    if isinstance(tls, ssl.SSLContext):
        return TLSSettings(tls)
    if not isinstance(tls, Mapping):
        raise TypeError(f"tls must be an ssl.SSLContext or a dict of options, not {type(tls).__name__}")
    unknown = set(tls) - TLS_OPTIONS
    if unknown:
        raise TypeError(f"Unrecognized tls option: {', '.join(sorted(unknown))}")
    fingerprint = parse_fingerprint(tls["fingerprint"]) if tls.get("fingerprint") else None
    context, description = _context_from_options(tls)
    return TLSSettings(context, tls.get("server_hostname"), fingerprint, description)
