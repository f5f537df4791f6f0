"""close() while the client is still opening ends its thread at once, wherever the opening is
blocked (DNS lookup, TCP connect, TLS handshake direct or through squid, waiting for the 101), and
is not reported as the server's doing."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from faye_websocket.errors import HandshakeError
from tests.integration.client_support import (
    WAIT,
    RecordingClient,
    raw_server,
    read_request,
    unanswering_port,
    wait_for_eof,
)
from tests.integration.components import ProxyServer, TLSCerts


def test_close_while_connecting_is_not_reported_as_the_servers_doing(no_leaks: None) -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        wait_for_eof(conn)

    with raw_server(handler) as port:
        ws = RecordingClient(f"ws://127.0.0.1:{port}/")
        ws.close()
        ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
        assert not isinstance(ws.error, HandshakeError)


@pytest.mark.parametrize("route", ["direct", "squid", "squid-tls"])
def test_close_during_a_stalled_tls_handshake_ends_the_client_thread_at_once(
    squid_proxy: ProxyServer, no_leaks: None, tls_certs: TLSCerts, route: str
) -> None:
    # The origin accepts TCP and never answers the ClientHello: the client's thread is blocked
    # in a TLS handshake (inside squid's TLS for "squid-tls"); close() must wake it.
    reached = threading.Event()

    def stall(conn: socket.socket) -> None:
        conn.recv(65536)  # the ClientHello
        reached.set()
        wait_for_eof(conn)

    proxy: object = False
    if route == "squid":
        proxy = squid_proxy.url()
    elif route == "squid-tls":
        proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    with raw_server(stall) as port:
        ws = RecordingClient(
            f"wss://127.0.0.1:{port}/", proxy=proxy, tls=tls_certs.client_context(), connect_timeout=30
        )
        assert reached.wait(WAIT)
        started = time.monotonic()
        ws.close()
        ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
        assert time.monotonic() - started < 1.0
        assert "open" not in ws.types


def test_close_during_a_stalled_dns_lookup_ends_the_client_thread_at_once(
    monkeypatch: pytest.MonkeyPatch, no_leaks: None
) -> None:
    # Without connect_timeout nothing bounds the lookup; close() must still end the thread at
    # once (the lookup's own thread is left to finish, as with a timeout).
    release = threading.Event()
    entered = threading.Event()
    real = socket.getaddrinfo

    def stalled(host: str, *args: object, **kwargs: object) -> object:
        if host == "stalled.invalid":
            entered.set()
            release.wait(WAIT)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", stalled)
    try:
        ws = RecordingClient("ws://stalled.invalid:9/", connect_timeout=None, proxy=False)
        assert entered.wait(WAIT)
        ws.close()
        ws.wait_closed_event()
        assert ws.wait_closed(1.0)
        assert ws.types == ["close"]
    finally:
        release.set()  # the lookup's thread then ends; no_leaks waits for it


def test_close_during_a_stalled_tcp_connect_ends_the_client_thread_at_once(no_leaks: None) -> None:
    with unanswering_port() as port:
        ws = RecordingClient(f"ws://127.0.0.1:{port}/", connect_timeout=30)
        assert not ws.wait_closed(0.3)  # still connecting
        started = time.monotonic()
        ws.close()
        ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
        assert time.monotonic() - started < 1.0
        assert ws.types == ["close"]
