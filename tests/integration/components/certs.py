"""Test certificates: a trustme CA and a leaf for localhost, 127.0.0.1 and ::1, as files and contexts."""

from __future__ import annotations

import base64
import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

# The names every test server answers on (trustme puts them in subjectAltName).
LEAF_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TLSCerts:
    """Paths to the CA and the server certificate, plus fresh ssl contexts on demand.

    ca_pem: the CA certificate (clients trust it). server_crt / server_key: the leaf and its key.
    combined_pem: leaf then key in one file (haproxy's `crt`). spki_pin: base64 sha256 of the leaf's
    SubjectPublicKeyInfo, for chromium's --ignore-certificate-errors-spki-list.
    """

    directory: Path
    ca_pem: Path
    server_crt: Path
    server_key: Path
    combined_pem: Path
    spki_pin: str
    ca: trustme.CA
    leaf: trustme.LeafCert

    def server_context(self) -> ssl.SSLContext:
        """Return a new server-side SSLContext that presents the leaf certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.leaf.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Return a new client-side SSLContext that trusts only the test CA (hostname checked)."""
        return ssl.create_default_context(cafile=str(self.ca_pem))

    def chromium_flags(self) -> tuple[str, ...]:
        """Return the chromium flag that makes it accept exactly this leaf certificate."""
        return (f"--ignore-certificate-errors-spki-list={self.spki_pin}",)


def spki_sha256_base64(cert_pem: bytes) -> str:
    """Return base64(sha256(SubjectPublicKeyInfo DER)) of a PEM certificate (chromium's pin format)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def make_tls_certs(directory: Path) -> TLSCerts:
    """Create a CA and a localhost leaf, write their files into `directory`, return them."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert(*LEAF_NAMES)
    paths = {name: directory / name for name in ("ca.pem", "server.crt", "server.key", "server.pem")}
    ca.cert_pem.write_to_path(str(paths["ca.pem"]))
    leaf_pem = leaf.cert_chain_pems[0].bytes()
    paths["server.crt"].write_bytes(leaf_pem)
    leaf.private_key_pem.write_to_path(str(paths["server.key"]))
    paths["server.pem"].write_bytes(leaf_pem + leaf.private_key_pem.bytes())
    return TLSCerts(
        directory=directory, ca_pem=paths["ca.pem"], server_crt=paths["server.crt"],
        server_key=paths["server.key"], combined_pem=paths["server.pem"],
        spki_pin=spki_sha256_base64(leaf_pem), ca=ca, leaf=leaf,
    )
