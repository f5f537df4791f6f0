"""Which certificates wss trusts: certifi by default, plus ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
when set (as pip and requests do), the operating system's store with ``tls={"trust": "system"}``;
a certificate error names the trust source that refused it.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from faye_websocket.client import connect
from tests.integration.client_support import WAIT, EchoServer, echo_server
from tests.integration.components import TLSCerts, require_executable


@pytest.fixture
def tls_server(tls_certs: TLSCerts) -> Iterator[EchoServer]:
    with echo_server(tls_certs.server_context()) as server:
        yield server


@pytest.fixture(autouse=True)
def no_trust_from_the_machine(no_proxy_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine sets SSL_CERT_FILE to the system bundle: each test says what it wants."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def echo(url: str, **options: object) -> str | bytes:
    with connect(url, connect_timeout=WAIT, **options) as ws:  # type: ignore[arg-type]
        ws.send("trusted")
        return ws.recv(timeout=WAIT)


def test_a_private_ca_only_in_ssl_cert_file_is_trusted(
    no_leaks: None, tls_server: EchoServer, tls_certs: TLSCerts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certs.ca_pem))
    assert echo(tls_server.url()) == "trusted"


def test_a_private_ca_in_ssl_cert_dir_is_trusted(
    no_leaks: None, tls_server: EchoServer, tls_certs: TLSCerts, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    openssl = require_executable("openssl")
    subject_hash = subprocess.run([openssl, "x509", "-hash", "-noout", "-in", str(tls_certs.ca_pem)],
                                  capture_output=True, text=True, check=True, timeout=WAIT).stdout.strip()
    shutil.copy(tls_certs.ca_pem, tmp_path / f"{subject_hash}.0")  # OpenSSL's hashed-directory layout
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    assert echo(tls_server.url()) == "trusted"


def test_without_it_the_error_names_the_trust_source(
    no_leaks: None, tls_server: EchoServer
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        echo(tls_server.url())
    message = str(refused.value)
    assert "certifi" in message and "SSL_CERT_FILE" in message  # where we looked, and where to add a CA


def test_the_system_store_option(
    no_leaks: None, tls_server: EchoServer, tls_certs: TLSCerts, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="system"):
        echo(tls_server.url(), tls={"trust": "system"})
    # OpenSSL's own default paths honour SSL_CERT_FILE too: the system store plus the private CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certs.ca_pem))
    assert echo(tls_server.url(), tls={"trust": "system"}) == "trusted"


def test_an_unknown_trust_source_is_refused_before_any_io() -> None:
    with pytest.raises(ValueError, match="trust"):
        connect("wss://127.0.0.1:1/", tls={"trust": "everything"})
