"""EventSource against independent peers: the original node faye-websocket writer (same bytes;
our reader resumes across its reconnections) and nginx and haproxy (events arrive one by one)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pytest

from faye_websocket.eventsource.client import EventSourceClient
from faye_websocket.eventsource.parser import ServerSentEvent
from faye_websocket.eventsource.writer import EventSource
from tests.integration.components import NodePeer, ReverseProxy
from tests.integration.eventsource_support import open_stream, read_to_eof, serving, take


def node_like_stream(handler: BaseHTTPRequestHandler) -> None:
    """What tests/peers/faye_echo_server.js does for /events?count=3&close=1, with our writer."""
    es = EventSource.from_handler(handler, retry=1, ping=15)
    start = int(es.last_event_id or 0)
    es.send(f"Time: {start + 1}", id=str(start + 1))
    es.send(f"Update {start + 2}", event="update", id=str(start + 2))
    es.send(f"Time: {start + 3}", id=str(start + 3))
    es.close()


def test_our_stream_is_byte_for_byte_the_original_node_stream(
    node_peer_server: Callable[[str], NodePeer],
) -> None:
    peer = node_peer_server("faye_echo_server")
    with open_stream(peer.port, "/events?count=3&close=1", headers={"Last-Event-ID": "7"}) as sock:
        original = read_to_eof(sock)
    with serving(node_like_stream) as server, open_stream(
        server.port, "/events", headers={"Last-Event-ID": "7"}
    ) as sock:
        ours = read_to_eof(sock)
    assert ours == original
    assert original.endswith(
        b"retry: 1000\r\n\r\n"
        b"id: 8\r\ndata: Time: 8\r\n\r\n"
        b"event: update\r\nid: 9\r\ndata: Update 9\r\n\r\n"
        b"id: 10\r\ndata: Time: 10\r\n\r\n"
    )


def test_our_reader_follows_the_original_writer_across_reconnections(
    node_peer_server: Callable[[str], NodePeer],
) -> None:
    peer = node_peer_server("faye_echo_server")
    client = EventSourceClient(peer.url("/events?count=3&close=1&retry=0.05", scheme="http"))
    events = take(client, 9)
    client.close()
    assert [e.last_event_id for e in events] == [str(n) for n in range(1, 10)]
    assert events[:3] == [
        ServerSentEvent("message", "Time: 1", "1"),
        ServerSentEvent("update", "Update 2", "2"),
        ServerSentEvent("message", "Time: 3", "3"),
    ]
    assert client.retry == 0.05  # the original's retry: 50 was honoured


@pytest.mark.parametrize("proxy_fixture", ["nginx_proxy", "haproxy_proxy"])
def test_stream_through_a_reverse_proxy_arrives_event_by_event(
    proxy_fixture: str, request: pytest.FixtureRequest
) -> None:
    """Each event is read by the client before the server writes the next, so nothing buffers."""
    start_proxy: Callable[[int], ReverseProxy] = request.getfixturevalue(proxy_fixture)
    gates = [threading.Event() for _ in range(3)]
    unblocked: list[bool] = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, ping=None, retry=None)
        for n, gate in enumerate(gates, 1):
            es.send(f"event {n}", id=n)
            unblocked.append(gate.wait(5))  # the client must see event n before n + 1 is sent
        es.close()

    with serving(stream) as server:
        proxy = start_proxy(server.port)
        client = EventSourceClient(proxy.url("/stream"), reconnect=False, read_timeout=10)
        received = []
        for event in client:
            received.append(event.data)
            gates[len(received) - 1].set()
            if len(received) == len(gates):
                break
        client.close()
    assert received == ["event 1", "event 2", "event 3"]
    assert unblocked == [True, True, True]
    if proxy_fixture == "nginx_proxy":
        assert client.headers.get("transfer-encoding") == "chunked"  # nginx re-framed the body
