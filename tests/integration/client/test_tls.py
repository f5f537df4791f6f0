"""wss: certificate verification on by default, the tls= option forms, SNI, client certificates."""

from __future__ import annotations

import hashlib
import ssl

import pytest
import trustme

from faye_websocket.client import Client, connect
from tests.integration.client_support import WAIT, RecordingClient, echo_server
from tests.integration.components import TLSCerts


def test_wss_with_a_context_that_trusts_the_test_ca(no_leaks: None, tls_certs: TLSCerts) -> None:
    with echo_server(tls_certs.server_context()) as server:
        with connect(server.url(host="localhost"), tls=tls_certs.client_context()) as ws:
            ws.send("secure")
            assert ws.recv(WAIT) == "secure"
        assert server.requests[0].headers["Host"] == f"localhost:{server.port}"


def test_wss_with_simple_options(no_leaks: None, tls_certs: TLSCerts) -> None:
    with echo_server(tls_certs.server_context()) as server:
        with connect(server.url(), tls={"cafile": str(tls_certs.ca_pem)}) as ws:
            ws.send(b"\x01")
            assert ws.recv(WAIT) == b"\x01"
        with connect(server.url(), tls={"ca_certs": str(tls_certs.ca_pem)}) as ws:
            assert ws.ready_state == 1


def test_verification_is_on_by_default_and_failure_is_clear(no_leaks: None, tls_certs: TLSCerts) -> None:
    with echo_server(tls_certs.server_context()) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            connect(server.url(host="localhost"))
        ws = RecordingClient(server.url(host="localhost"))
        close = ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
    assert ws.types == ["error", "close"] and close.code == 1006
    message = ws.events[0].message  # type: ignore[union-attr]
    assert message.startswith(f"Network error: {server.url(host='localhost')}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert isinstance(ws.error, ssl.SSLCertVerificationError)


def test_verify_false_accepts_an_unknown_certificate(no_leaks: None, tls_certs: TLSCerts) -> None:
    with (
        echo_server(tls_certs.server_context()) as server,
        connect(server.url(), tls={"verify": False}) as ws,
    ):
        ws.send("anyway")
        assert ws.recv(WAIT) == "anyway"


def test_host_name_is_checked_and_server_hostname_overrides_it(no_leaks: None, tls_certs: TLSCerts) -> None:
    options = {"cafile": str(tls_certs.ca_pem), "server_hostname": "wrong.example"}
    with echo_server(tls_certs.server_context()) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="wrong.example"):
            connect(server.url(), tls=options)
        with connect(server.url(), tls={**options, "server_hostname": "localhost"}) as ws:
            assert ws.ready_state == 1


def test_sni_names_the_origin_host(no_leaks: None, tls_certs: TLSCerts) -> None:
    seen: list[str | None] = []
    context = tls_certs.server_context()
    context.sni_callback = lambda sock, name, ctx: seen.append(name)  # type: ignore[assignment,func-returns-value]
    with (
        echo_server(context) as server,
        connect(server.url(host="localhost"), tls=tls_certs.client_context()),
    ):
        pass
    assert seen == ["localhost"]


def test_client_certificate_from_simple_options(
    no_leaks: None, tls_certs: TLSCerts, tmp_path: object
) -> None:
    client_ca = trustme.CA()
    client_leaf = client_ca.issue_cert("client.example")
    pem = tmp_path / "client.pem"  # type: ignore[operator]
    client_leaf.private_key_and_cert_chain_pem.write_to_path(str(pem))
    context = tls_certs.server_context()
    context.verify_mode = ssl.CERT_REQUIRED
    client_ca.configure_trust(context)
    with echo_server(context) as server:
        options = {"cafile": str(tls_certs.ca_pem), "certfile": str(pem)}
        with connect(server.url(), tls=options) as ws:
            ws.send("mutual")
            assert ws.recv(WAIT) == "mutual"
        # With TLS 1.3 the server's refusal arrives after the client's handshake, with the 101's
        # turn; connect() still raises the TLS error itself.
        # (the alert, or an EOF when the server's close overtakes it: both are ssl.SSLError)
        with pytest.raises(ssl.SSLError):
            connect(server.url(), tls={"cafile": str(tls_certs.ca_pem)})


def test_threaded_client_over_wss(no_leaks: None, tls_certs: TLSCerts) -> None:
    with echo_server(tls_certs.server_context(), greeting="welcome") as server:
        ws = RecordingClient(server.url(), tls=tls_certs.client_context())
        assert ws.message_arrived.wait(WAIT)
        ws.close()
        assert ws.wait_closed_event().code == 1000
        assert ws.wait_closed(WAIT)
    assert ws.messages == ["welcome"]


def test_tls_options_are_checked_before_any_io(no_leaks: None) -> None:
    with pytest.raises(TypeError):
        Client("wss://127.0.0.1:1/", tls="yes")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        Client("wss://127.0.0.1:1/", tls={"cafile": "/nonexistent/ca.pem"})


def leaf_fingerprint(tls_certs: TLSCerts) -> str:
    der = ssl.PEM_cert_to_DER_cert(tls_certs.server_crt.read_text())
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def test_pinned_fingerprint_accepts_only_that_certificate(no_leaks: None, tls_certs: TLSCerts) -> None:
    pin = leaf_fingerprint(tls_certs)
    with echo_server(tls_certs.server_context()) as server:
        with connect(server.url(), tls={"verify": False, "fingerprint": pin}) as ws:
            ws.send("pinned")
            assert ws.recv(WAIT) == "pinned"
        wrong = "00" * 32
        with pytest.raises(ssl.SSLCertVerificationError, match="fingerprint mismatch"):
            connect(server.url(), tls={"verify": False, "fingerprint": wrong})
        with pytest.raises(ValueError, match="SHA-256"):
            connect(server.url(), tls={"fingerprint": "abc"})
