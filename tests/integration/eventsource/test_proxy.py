"""EventSourceClient through real forward proxies (HTTP CONNECT): tinyproxy and squid, with Basic
auth, reconnection through the proxy, https inside an https proxy, and a refused tunnel."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import pytest

from faye_websocket.errors import ProxyError
from faye_websocket.eventsource.client import EventSourceClient
from faye_websocket.eventsource.writer import EventSource
from tests.integration.components import ProxyServer, TLSCerts
from tests.integration.eventsource_support import serving, take


def numbered(handler: BaseHTTPRequestHandler) -> None:
    """Two events numbered on from Last-Event-ID, then the server ends the stream."""
    es = EventSource.from_handler(handler, retry=0.05, ping=None)
    start = int(es.last_event_id or 0)
    es.send(f"event {start + 1}", id=start + 1)
    es.send(f"event {start + 2}", id=start + 2)
    es.close()


def test_reader_through_tinyproxy_with_auth_reconnects_through_it(tinyproxy_proxy: ProxyServer) -> None:
    with serving(numbered) as server:
        client = EventSourceClient(server.url(), proxy=tinyproxy_proxy.url(), read_timeout=10)
        events = take(client, 5)
        client.close()
    assert [e.data for e in events] == [f"event {n}" for n in range(1, 6)]
    assert [r.get("Last-Event-ID") for r in server.requests[:3]] == [None, "2", "4"]


def test_reader_over_https_through_squids_tls_listener(squid_proxy: ProxyServer, tls_certs: TLSCerts) -> None:
    """TLS to the proxy and TLS to the origin inside it (TLS in TLS)."""
    proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    with serving(numbered, tls=tls_certs.server_context()) as server:
        client = EventSourceClient(
            server.url(host="localhost"), proxy=proxy, tls=tls_certs.client_context(), read_timeout=10
        )
        events = take(client, 3)
        client.close()
    assert [e.data for e in events] == ["event 1", "event 2", "event 3"]


def test_proxy_that_refuses_the_tunnel_stops_the_reader_with_its_status(squid_proxy: ProxyServer) -> None:
    with serving(numbered) as server:
        client = EventSourceClient(server.url(), proxy=squid_proxy.url(credentials=False))
        with pytest.raises(ProxyError) as caught:
            take(client, 1)
    assert caught.value.status == 407
    assert server.requests == []


def test_no_proxy_option_connects_directly_even_with_a_proxy_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens on the discard port
    with serving(numbered) as server:
        client = EventSourceClient(server.url(), proxy=False, reconnect=False)
        assert [e.data for e in take(client, 2)] == ["event 1", "event 2"]
