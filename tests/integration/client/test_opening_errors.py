"""How a failed opening is reported: connect() raises the documented error (HandshakeError,
ProxyError, OSError, TimeoutError, ssl errors) naming the hop it concerns (proxy or origin) in a
plain message, and both forms dispatch error then close events carrying that exception."""

from __future__ import annotations

import errno
import socket
import ssl
import struct

import pytest

from faye_websocket.client import connect
from faye_websocket.errors import HandshakeError, ProxyError
from faye_websocket.events import ErrorEvent
from tests.integration.client_support import (
    WAIT,
    RecordingClient,
    echo_server,
    raw_server,
    read_request,
    wait_for_eof,
)
from tests.integration.components import ProxyServer, TLSCerts


def test_a_server_that_closes_before_its_101_is_a_handshake_error(no_leaks: None) -> None:
    # connect() documents HandshakeError / OSError / TimeoutError for a failed opening; a server
    # that reads the request and hangs up used to surface as ConnectionClosed(1006) instead.
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 101 Switching")  # half a status line, then EOF

    with raw_server(handler) as port:
        with pytest.raises(HandshakeError, match="closed the connection") as caught:
            connect(f"ws://127.0.0.1:{port}/")
        assert caught.value.status is None
        ws = RecordingClient(f"ws://127.0.0.1:{port}/")
        close = ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
        assert close.code == 1006 and "open" not in ws.types
        assert isinstance(ws.error, HandshakeError)


def _refusing_proxy(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nX-Reason: policy\r\nContent-Length: 0\r\n\r\n")
    wait_for_eof(conn)


def test_the_error_event_of_a_failed_opening_carries_the_exception(no_leaks: None) -> None:
    # Client's docstring: "error.error holds the exception"; opening failures dispatched an
    # ErrorEvent whose error was None (only Client.error had it).
    refused_port = socket.create_server(("127.0.0.1", 0))
    refused_url = f"ws://127.0.0.1:{refused_port.getsockname()[1]}/"
    refused_port.close()  # nothing listens there now: ECONNREFUSED
    with raw_server(_refusing_proxy) as proxy_port:
        cases = [
            (refused_url, {}, ConnectionRefusedError),
            ("ws://127.0.0.1:9/", {"proxy": f"http://127.0.0.1:{proxy_port}"}, ProxyError),
        ]
        for url, options, kind in cases:
            ws = RecordingClient(url, **options)
            ws.wait_closed_event()
            assert ws.wait_closed(WAIT)
            assert ws.types == ["error", "close"]
            error_event = ws.events[0]
            assert isinstance(error_event, ErrorEvent)
            assert isinstance(error_event.error, kind), error_event
            assert error_event.error is ws.error


@pytest.mark.parametrize("hop", ["proxy", "origin"])
def test_a_certificate_failure_names_the_hop_that_presented_it(
    squid_proxy: ProxyServer, no_leaks: None, tls_certs: TLSCerts, hop: str
) -> None:
    # Through squid's TLS listener two certificates are checked; "certificate verify failed"
    # alone does not say whether the proxy's or the origin's was refused.
    trusted, untrusted = tls_certs.client_context(), ssl.create_default_context()
    proxy_tls, origin_tls = (untrusted, trusted) if hop == "proxy" else (trusted, untrusted)
    proxy = {"origin": squid_proxy.url(tls=True), "tls": proxy_tls}
    with echo_server(tls_certs.server_context()) as server:
        where = f"{squid_proxy.host}:{squid_proxy.tls_port}" if hop == "proxy" else f"127.0.0.1:{server.port}"
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed") as caught:
            connect(server.url(), proxy=proxy, tls=origin_tls)
        assert f"{hop} {where}" in str(caught.value)
        assert caught.value.verify_code != 0
        ws = RecordingClient(server.url(), proxy=proxy, tls=origin_tls)
        ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
        assert f"{hop} {where}" in ws.events[0].message  # type: ignore[union-attr]


def test_network_errors_name_the_hop_they_concern(no_leaks: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # With a proxy from the environment, "[Errno 111] Connection refused" under the origin's URL
    # sends users looking at the wrong machine; "Name or service not known" names no name at all.
    with socket.create_server(("127.0.0.1", 0)) as unused:
        dead = unused.getsockname()[1]
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{dead}")
    with pytest.raises(ConnectionRefusedError, match=f"proxy 127.0.0.1:{dead}") as refused:
        connect("ws://127.0.0.1:9/")
    assert refused.value.errno == errno.ECONNREFUSED
    ws = RecordingClient("ws://127.0.0.1:9/")
    ws.wait_closed_event()
    assert ws.wait_closed(WAIT)
    assert f"proxy 127.0.0.1:{dead}" in ws.events[0].message  # type: ignore[union-attr]
    monkeypatch.delenv("http_proxy")
    with pytest.raises(ConnectionRefusedError, match=f"origin 127.0.0.1:{dead}"):
        connect(f"ws://127.0.0.1:{dead}/")
    with pytest.raises(socket.gaierror, match="nosuch.invalid"):
        connect("ws://nosuch.invalid/", connect_timeout=WAIT)


def test_a_tls_failure_with_the_proxy_names_the_proxy(squid_proxy: ProxyServer, no_leaks: None) -> None:
    # An https:// proxy URL for a proxy port that speaks plain HTTP: the TLS error must say it
    # concerns the proxy, not the origin.
    with pytest.raises(ssl.SSLError, match=f"proxy {squid_proxy.host}:{squid_proxy.port}"):
        connect("ws://127.0.0.1:9/", proxy=f"https://{squid_proxy.host}:{squid_proxy.port}")


def test_tls_errors_read_as_plain_messages(no_leaks: None, tls_certs: TLSCerts) -> None:
    # An ssl.SSLError made from one argument prints as a tuple: "('certificate fingerprint ...',)".
    with echo_server(tls_certs.server_context()) as server:
        pin = {"cafile": str(tls_certs.ca_pem), "fingerprint": "00" * 32}
        with pytest.raises(ssl.SSLCertVerificationError) as pinned:
            connect(server.url(), tls=pin)
        assert str(pinned.value).startswith("certificate fingerprint mismatch"), str(pinned.value)
        wrong_name = {"cafile": str(tls_certs.ca_pem), "server_hostname": "wrong.example"}
        with pytest.raises(ssl.SSLCertVerificationError) as mismatch:
            connect(server.url(), tls=wrong_name)
        assert str(mismatch.value).startswith("[SSL: CERTIFICATE_VERIFY_FAILED]"), str(mismatch.value)
        assert f"certificate presented by the origin 127.0.0.1:{server.port}; trusted: cafile=" in str(
            mismatch.value
        )


def test_a_failed_connect_dispatches_error_then_close_to_the_handlers_it_was_given(no_leaks: None) -> None:
    # "Exactly one close event is dispatched on every path": connect()'s opening failures
    # (before the handshake, or a handshake that timed out) dispatched nothing to onerror/onclose.
    with socket.create_server(("127.0.0.1", 0)) as unused:
        refused = f"ws://127.0.0.1:{unused.getsockname()[1]}/"

    def silent(conn: socket.socket) -> None:
        read_request(conn)
        wait_for_eof(conn)

    def forbidden(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        wait_for_eof(conn)

    with (
        raw_server(silent) as silent_port,
        raw_server(_refusing_proxy) as proxy_port,
        raw_server(forbidden) as port,
    ):
        cases: list[tuple[str, dict[str, object], type[BaseException]]] = [
            (refused, {}, ConnectionRefusedError),
            ("ws://127.0.0.1:9/", {"proxy": f"http://127.0.0.1:{proxy_port}"}, ProxyError),
            (f"ws://127.0.0.1:{silent_port}/", {"connect_timeout": 0.3}, TimeoutError),
            (f"ws://127.0.0.1:{port}/", {}, HandshakeError),
        ]
        for url, options, kind in cases:
            seen: list[object] = []
            handlers = {"onerror": seen.append, "onclose": seen.append, "onopen": seen.append}
            with pytest.raises(kind) as caught:
                connect(url, **options, **handlers)  # type: ignore[arg-type]
            assert [type(event).__name__ for event in seen] == ["ErrorEvent", "CloseEvent"], (url, seen)
            assert seen[0].error is caught.value  # type: ignore[attr-defined]


def test_a_proxy_that_resets_the_connection_is_named(no_leaks: None) -> None:
    def reset(conn: socket.socket) -> None:
        read_request(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close

    with raw_server(reset) as port:
        named = f"CONNECT to the proxy 127.0.0.1:{port}"
        with pytest.raises(ConnectionResetError, match=named):
            connect("ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{port}")
