"""The client through real CONNECT proxies: squid (plain and TLS listener) and tinyproxy.

The key number: through squid's TLS listener, wss runs TLS inside TLS, and the server's first
message (sent right behind its 101) must arrive at once, not with the next keepalive (python
websockets delivered it 20 s late there).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from faye_websocket.client import Client, connect
from faye_websocket.errors import ProxyError
from faye_websocket.events import MessageEvent
from tests.integration.client_support import (
    WAIT,
    EchoServer,
    RecordingClient,
    echo_server,
    frame,
    raw_server,
    read_request,
    serve_until_close,
    switching_protocols,
)
from tests.integration.components import NodePeer, ProxyServer, TLSCerts

FIRST_MESSAGE_BUDGET = 1.0  # seconds: the brief's bound for the first message through TLS-in-TLS


@pytest.fixture
def plain_server() -> Iterator[EchoServer]:
    with echo_server(greeting="hello") as server:
        yield server


@pytest.fixture
def tls_server(tls_certs: TLSCerts) -> Iterator[EchoServer]:
    with echo_server(tls_certs.server_context(), greeting="hello") as server:
        yield server


def test_ws_through_each_proxy(proxy: ProxyServer, no_leaks: None, plain_server: EchoServer) -> None:
    with connect(plain_server.url(), proxy=proxy.url()) as ws:
        assert ws.recv(WAIT) == "hello"
        ws.send("through " + proxy.kind)
        assert ws.recv(WAIT) == "through " + proxy.kind


def test_wss_through_each_proxy(
    proxy: ProxyServer, no_leaks: None, tls_server: EchoServer, tls_certs: TLSCerts
) -> None:
    with connect(tls_server.url(host="localhost"), proxy=proxy.url(), tls=tls_certs.client_context()) as ws:
        assert ws.recv(WAIT) == "hello"
        ws.send(b"\x00" * 100000)
        assert ws.recv(WAIT) == b"\x00" * 100000


def test_wss_through_squid_tls_listener_delivers_the_first_message_at_once(
    squid_proxy: ProxyServer, no_leaks: None, tls_server: EchoServer, tls_certs: TLSCerts
) -> None:
    proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    started = time.monotonic()
    with connect(tls_server.url(), proxy=proxy, tls=tls_certs.client_context()) as ws:
        assert ws.recv(FIRST_MESSAGE_BUDGET) == "hello"
        elapsed = time.monotonic() - started
        ws.send("echo in tls in tls")
        assert ws.recv(WAIT) == "echo in tls in tls"
    assert elapsed < FIRST_MESSAGE_BUDGET
    threaded = RecordingClient(tls_server.url(), proxy=proxy, tls=tls_certs.client_context())
    assert threaded.message_arrived.wait(FIRST_MESSAGE_BUDGET), threaded.types
    threaded.close()
    threaded.wait_closed_event()
    assert threaded.wait_closed(WAIT)
    assert threaded.messages == ["hello"]


def test_ws_through_squid_tls_listener(
    squid_proxy: ProxyServer, no_leaks: None, plain_server: EchoServer, tls_certs: TLSCerts
) -> None:
    proxy = {"origin": squid_proxy.url(tls=True), "tls": {"cafile": str(tls_certs.ca_pem)}}
    with connect(plain_server.url(), proxy=proxy) as ws:
        assert ws.recv(WAIT) == "hello"


@pytest.mark.parametrize(
    ("kind", "password", "status"),
    [("squid", "wrong", 407), ("squid", None, 407), ("tinyproxy", "wrong", 401), ("tinyproxy", None, 407)],
)
def test_refused_credentials_give_proxy_error_events_and_close_the_socket(
    proxies: dict[str, ProxyServer],
    no_leaks: None,
    plain_server: EchoServer,
    kind: str,
    password: str | None,
    status: int,
) -> None:
    server = proxies[kind]
    userinfo = f"{server.username}:{password}@" if password else ""
    proxy_url = f"http://{userinfo}{server.host}:{server.port}"
    with pytest.raises(ProxyError) as caught:
        connect(plain_server.url(), proxy=proxy_url)
    assert caught.value.status == status
    ws = RecordingClient(plain_server.url(), proxy=proxy_url)
    close = ws.wait_closed_event()
    assert ws.wait_closed(WAIT)
    assert ws.types == ["error", "close"]
    assert close.code == 1006
    assert isinstance(ws.error, ProxyError) and ws.error.status == status
    assert str(status) in ws.events[0].message  # type: ignore[union-attr]
    assert not plain_server.requests  # nothing reached the origin


def test_custom_proxy_headers_are_sent(no_leaks: None, plain_server: EchoServer) -> None:
    seen: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as fake_proxy:
        fake_proxy.settimeout(WAIT)
        port = fake_proxy.getsockname()[1]
        proxy = {"origin": f"http://127.0.0.1:{port}", "headers": {"X-Proxy-Token": "abc"}}
        ws = RecordingClient(plain_server.url(), proxy=proxy)
        conn, _ = fake_proxy.accept()
        with conn:
            conn.settimeout(WAIT)
            seen.append(conn.recv(4096))
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            ws.wait_closed_event()
    assert ws.wait_closed(WAIT)
    request = seen[0].decode()
    assert request.startswith(f"CONNECT 127.0.0.1:{plain_server.port} HTTP/1.1\r\n")
    assert "\r\nX-Proxy-Token: abc\r\n" in request
    assert isinstance(ws.error, ProxyError) and ws.error.status == 502


def test_environment_proxy_is_used_unless_no_proxy_or_proxy_false(
    squid_proxy: ProxyServer, no_leaks: None, plain_server: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy URL without credentials: squid answers 407, which proves the proxy was used.
    monkeypatch.setenv("http_proxy", squid_proxy.url(credentials=False))
    with pytest.raises(ProxyError):
        connect(plain_server.url())
    with connect(plain_server.url(), proxy=False) as ws:
        assert ws.recv(WAIT) == "hello"
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    with connect(plain_server.url()) as ws:
        assert ws.recv(WAIT) == "hello"


def test_wss_uses_https_proxy_from_the_environment(
    squid_proxy: ProxyServer,
    no_leaks: None,
    tls_server: EchoServer,
    tls_certs: TLSCerts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # must not be used for wss
    monkeypatch.setenv("HTTPS_PROXY", squid_proxy.url())
    with connect(tls_server.url(), tls=tls_certs.client_context()) as ws:
        assert ws.recv(WAIT) == "hello"
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("ALL_PROXY", squid_proxy.url(credentials=False))
    with pytest.raises(ProxyError):
        connect(tls_server.url(), tls=tls_certs.client_context())


def test_tls_in_tls_carries_concurrent_sends_and_receives_intact(
    squid_proxy: ProxyServer, no_leaks: None, tls_server: EchoServer, tls_certs: TLSCerts
) -> None:
    proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    messages = [bytes([i % 256]) * (i * 997 % 70000) for i in range(150)]
    received: list[str | bytes] = []
    all_back = threading.Event()

    def on_message(event: MessageEvent) -> None:
        received.append(event.data)
        if len(received) == len(messages) + 1:  # the greeting, then every echo
            all_back.set()

    ws = Client(tls_server.url(), proxy=proxy, tls=tls_certs.client_context(), onmessage=on_message)
    sender = threading.Thread(target=lambda: [ws.send(m) for m in messages], name="sender")
    sender.start()  # send() queues while CONNECTING, then writes while the reader decrypts
    sender.join(WAIT)
    assert all_back.wait(WAIT), f"{len(received)} of {len(messages) + 1} messages"
    ws.close()
    assert ws.wait_closed(WAIT)
    assert received == ["hello", *messages]


def test_pinned_fingerprint_is_checked_inside_the_tunnel(
    squid_proxy: ProxyServer, no_leaks: None, tls_server: EchoServer, tls_certs: TLSCerts
) -> None:
    der = ssl.PEM_cert_to_DER_cert(tls_certs.server_crt.read_text())
    pin = hashlib.sha256(der).hexdigest()
    proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    with connect(tls_server.url(), proxy=proxy, tls={"verify": False, "fingerprint": pin}) as ws:
        assert ws.recv(WAIT) == "hello"
    with pytest.raises(ssl.SSLCertVerificationError, match="fingerprint mismatch"):
        connect(tls_server.url(), proxy=proxy, tls={"verify": False, "fingerprint": "ab" * 32})


def test_an_unreachable_origin_behind_the_proxy_is_a_proxy_error(proxy: ProxyServer, no_leaks: None) -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    with pytest.raises(ProxyError) as caught:
        connect(f"ws://127.0.0.1:{port}/", proxy=proxy.url())
    assert caught.value.status is not None and caught.value.status >= 500


BURST = 200


def _burst_then_close(conn: socket.socket) -> None:
    """Answer the handshake with 200 messages and a close frame in one write, then close."""
    request, _ = read_request(conn)
    burst = b"".join(frame(1, b"m%d" % i) for i in range(BURST))
    conn.sendall(switching_protocols(request) + burst + frame(8, b"\x03\xe8done"))
    serve_until_close(conn)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_a_burst_behind_the_101_through_squid_tls_listener_arrives_whole_and_in_order(
    squid_proxy: ProxyServer, no_leaks: None, tls_certs: TLSCerts, host: str
) -> None:
    # TLS inside TLS: the 101, 200 frames and a close frame come in one read of the outer layer.
    proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    url_host = f"[{host}]" if ":" in host else host
    with raw_server(_burst_then_close, tls=tls_certs.server_context(), host=host) as port:
        ws = connect(f"wss://{url_host}:{port}/", proxy=proxy, tls=tls_certs.client_context())
        started = time.monotonic()
        messages = list(ws)
        assert time.monotonic() - started < 1.0  # nothing waited on a socket with data in memory
        assert messages == [f"m{i}" for i in range(BURST)]
        close_event = ws.connection.close_event
        assert close_event is not None and (close_event.code, close_event.reason) == (1000, "done")
        threaded = RecordingClient(f"wss://{url_host}:{port}/", proxy=proxy, tls=tls_certs.client_context())
        close = threaded.wait_closed_event()
        assert threaded.wait_closed(WAIT)
        assert threaded.messages == messages and close.code == 1000


def test_tls_in_tls_to_python_websockets_carries_large_messages_both_ways_and_closes_cleanly(
    squid_proxy: ProxyServer, no_leaks: None, tls_certs: TLSCerts
) -> None:
    # Where a user meets TLS inside TLS: a wss server (python websockets) behind squid's TLS
    # listener. Messages near websockets' 1 MiB limit, sent from two threads while the echoes
    # stream back, then the closing handshake.
    from tests.integration.interop.test_client_node_peers import websockets_echo

    big = bytes(range(256)) * 3600  # 900 KiB
    proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    with websockets_echo(tls_certs) as url:
        ws = RecordingClient(url, proxy=proxy, tls=tls_certs.client_context(), max_length=2**23)
        assert ws.opened.wait(WAIT), ws.types
        senders = [threading.Thread(target=lambda: [ws.send(big) for _ in range(2)]) for _ in range(2)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(WAIT * 4)
        deadline = time.monotonic() + WAIT * 4
        while len(ws.messages) < 4:
            assert time.monotonic() < deadline, ws.types
            ws.message_arrived.wait(0.1)
            ws.message_arrived.clear()
        ws.close(1000, "done")
        close = ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
    assert ws.messages == [big] * 4
    assert (close.code, close.was_clean) == (1000, True)


@pytest.mark.parametrize("route", ["squid-tls", "tinyproxy"])
def test_node_ws_over_wss_through_a_proxy_echoes_a_pipelined_burst_in_order(
    squid_proxy: ProxyServer,
    tinyproxy_proxy: ProxyServer,
    no_leaks: None,
    node_peer_server: Callable[..., NodePeer],
    tls_certs: TLSCerts,
    route: str,
) -> None:
    peer = node_peer_server("ws_echo_server", tls=True)
    if route == "squid-tls":
        proxy: object = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    else:
        proxy = tinyproxy_proxy.url()
    with connect(peer.url(scheme="wss", host="localhost"), proxy=proxy, tls=tls_certs.client_context()) as ws:
        for i in range(300):
            ws.send(f"m{i}" if i % 3 else bytes([i % 256]) * (i * 97))
        echoes = [ws.recv(WAIT) for _ in range(300)]
    assert echoes == [f"m{i}" if i % 3 else bytes([i % 256]) * (i * 97) for i in range(300)]
    close = ws.connection.close_event
    assert close is not None and (close.code, close.was_clean) == (1000, True)
