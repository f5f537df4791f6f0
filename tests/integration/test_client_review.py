"""Review of the blocking client's opening phase: deadlines, aborts, TLS inside TLS, proxies.

Each test here reproduces a defect found in review (or pins a behaviour the review checked),
with real sockets on loopback, the real squid / tinyproxy fixtures and trustme certificates.
"""

from __future__ import annotations

import base64
import errno
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from faye_websocket.client import Client, connect
from faye_websocket.driver.http import HeadBuffer
from faye_websocket.driver.proxy import ProxyHandshake
from faye_websocket.driver.url import parse_url
from faye_websocket.errors import HandshakeError, ProxyError
from faye_websocket.events import ErrorEvent
from faye_websocket.net.proxies import parse_proxy, proxy_from_environment
from faye_websocket.net.transport import SocketTransport, TLSInTLS
from tests.integration.client.test_tls_in_tls import nested_tls_pair
from tests.integration.client_support import (
    WAIT,
    RecordingClient,
    echo_server,
    frame,
    raw_server,
    read_request,
    serve_until_close,
    switching_protocols,
    wait_for_eof,
)
from tests.integration.components import NodePeer, ProxyServer, TLSCerts

# A TLS record header announcing a 16000-byte handshake record; its body then trickles in.
PARTIAL_RECORD_HEADER = b"\x16\x03\x03\x3e\x80"
TRICKLE_INTERVAL = 0.1  # seconds between the trickled bytes: each read gets data well in time


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy from the machine's environment leaks into these tests."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def _trickle_after_client_hello(conn: socket.socket, stop: threading.Event) -> None:
    """Read the ClientHello, then send a partial TLS record one byte at a time until stopped."""
    conn.recv(65536)
    conn.sendall(PARTIAL_RECORD_HEADER)
    while not stop.wait(TRICKLE_INTERVAL):
        conn.sendall(b"\x00")


@pytest.fixture
def trickling_tls_server() -> Iterator[int]:
    """A server that accepts TCP, then stalls a TLS handshake by trickling one record forever."""
    stop = threading.Event()
    with raw_server(lambda conn: _trickle_after_client_hello(conn, stop)) as port:
        try:
            yield port
        finally:
            stop.set()


def test_a_tls_server_trickling_its_handshake_times_out_within_connect_timeout(
    no_leaks: None, trickling_tls_server: int
) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=f"TLS handshake with the origin 127.0.0.1:{trickling_tls_server}"):
        connect(f"wss://127.0.0.1:{trickling_tls_server}/", connect_timeout=0.5)
    assert time.monotonic() - started < 2.0


def test_a_tunnelled_tls_handshake_trickling_times_out_within_connect_timeout(
    squid_proxy: ProxyServer, no_leaks: None, tls_certs: TLSCerts, trickling_tls_server: int
) -> None:
    # Through squid's TLS listener the origin's TLS runs inside TLS (memory BIOs): each read of
    # the outer socket got a byte in time, but the handshake as a whole must not outlive the budget.
    proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    started = time.monotonic()
    with pytest.raises(
        TimeoutError, match=f"TLS handshake with the origin 127.0.0.1:{trickling_tls_server} in"
    ):
        connect(f"wss://127.0.0.1:{trickling_tls_server}/", proxy=proxy, connect_timeout=0.5)
    assert time.monotonic() - started < 2.0


def test_tls_in_tls_recv_timeout_bounds_a_record_that_trickles_in(
    no_leaks: None, tls_certs: TLSCerts
) -> None:
    # SSLSocket.recv's timeout bounds the whole call; TLSInTLS.recv must not restart it for
    # every byte of a record that a peer (or a slow proxy) trickles in.
    stop = threading.Event()

    def serve(inner: TLSInTLS) -> None:
        inner.ssl_object.write(b"x" * 1000)
        record = inner._outgoing.read()  # one encrypted inner record, sent a byte at a time
        for byte in record:
            inner.outer.sendall(bytes([byte]))
            if stop.wait(TRICKLE_INTERVAL / 2):
                return

    with nested_tls_pair(tls_certs, serve) as client:
        try:
            client.settimeout(0.5)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                client.recv(65536)
            assert time.monotonic() - started < 1.5
        finally:
            stop.set()


def _burst_then_close(conn: socket.socket) -> None:
    """Answer the handshake with 200 messages and a close frame in one write, then close."""
    request, _ = read_request(conn)
    burst = b"".join(frame(1, b"m%d" % i) for i in range(BURST))
    conn.sendall(switching_protocols(request) + burst + frame(8, b"\x03\xe8done"))
    serve_until_close(conn)


BURST = 200


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


def test_wait_closed_on_a_connected_client_waits_for_the_thread_that_reads(no_leaks: None) -> None:
    # connect() starts no thread; when the user reads on a thread of their own, close() on
    # another returns at once and wait_closed(timeout) must wait for the close event.
    def handler(conn: socket.socket) -> None:
        request, _ = read_request(conn)
        conn.sendall(switching_protocols(request))
        frames = serve_until_close(conn)
        assert frames[-1][0] == 8
        time.sleep(0.2)  # the server's close frame is out; its TCP close comes a little later

    with raw_server(handler) as port:
        ws = connect(f"ws://127.0.0.1:{port}/")
        received: list[str | bytes] = []
        reader = threading.Thread(target=lambda: received.extend(ws), name="review-reader")
        reader.start()
        try:
            deadline = time.monotonic() + WAIT
            while not ws.connection._read_lock.locked():  # the reader is in recv()
                assert time.monotonic() < deadline
                time.sleep(0.001)
            ws.close()
            assert ws.wait_closed(WAIT)
            assert ws.ready_state == 3
        finally:
            reader.join(WAIT)
        assert received == []


def _tls_then_half_a_record(context: ssl.SSLContext) -> Callable[[socket.socket], None]:
    """A wss server that reads the request, then sends only the first bytes of its 101's record."""

    def handler(conn: socket.socket) -> None:
        tls = TLSInTLS(SocketTransport(conn), context, None, server_side=True)
        tls.handshake()
        buffer = HeadBuffer()
        while buffer.feed(tls.recv(65536)) is None:
            pass
        tls.ssl_object.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        conn.sendall(tls._outgoing.read()[:10])  # half a TLS record, and then nothing
        wait_for_eof(conn)

    return handler


@pytest.mark.parametrize("route", ["direct", "squid-tls"])
def test_half_a_tls_record_of_the_101_times_out_within_connect_timeout(
    squid_proxy: ProxyServer, no_leaks: None, tls_certs: TLSCerts, route: str
) -> None:
    # The TLS read waiting for the rest of the record used the send timeout (30 s by default),
    # not what was left of connect_timeout.
    proxy = (
        {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
        if route != "direct"
        else False
    )
    with raw_server(_tls_then_half_a_record(tls_certs.server_context())) as port:
        url = f"wss://127.0.0.1:{port}/"
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="opening handshake"):
            connect(url, proxy=proxy, tls=tls_certs.client_context(), connect_timeout=0.5)
        assert time.monotonic() - started < 2.0
        ws = RecordingClient(url, proxy=proxy, tls=tls_certs.client_context(), connect_timeout=0.5)
        close = ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
        assert close.code == 1006 and isinstance(ws.error, TimeoutError)
        assert time.monotonic() - started < 4.0


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


def test_percent_encoded_userinfo_reaches_proxy_and_origin_decoded_with_ipv6_targets(no_leaks: None) -> None:
    seen: list[tuple[str, str | None, str | None]] = []

    def proxy_then_origin(conn: socket.socket) -> None:
        connect_request, _ = read_request(conn)
        seen.append((connect_request.target, connect_request.headers.get("Proxy-Authorization"), None))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        request, _ = read_request(conn)  # the "origin" is this same connection
        seen.append((request.target, request.headers.get("Authorization"), request.headers.get("Host")))
        conn.sendall(switching_protocols(request) + frame(8, b"\x03\xe8"))
        serve_until_close(conn)

    with raw_server(proxy_then_origin) as port:
        proxy = f"http://pr%2Fx:s%23e%40@127.0.0.1:{port}"
        with connect("ws://us%40er:p%3As%20s@[::1]:8080/x", proxy=proxy) as ws:
            assert list(ws) == []
    assert seen[0][:2] == ("[::1]:8080", "Basic " + base64.b64encode(b"pr/x:s#e@").decode())
    assert seen[1] == ("/x", "Basic " + base64.b64encode(b"us@er:p:s s").decode(), "[::1]:8080")


@contextmanager
def unanswering_port() -> Iterator[int]:
    """A port whose SYNs go unanswered: the stand-in for a dead host on a loopback-only machine.

    A listener whose accept queue is full drops further SYNs (Linux), so the next connect()
    blocks in SYN_SENT.
    """
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers: list[socket.socket] = []
    try:
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


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


def test_a_tcp_connect_timeout_names_the_proxy_it_was_waiting_for(no_leaks: None) -> None:
    with unanswering_port() as port:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=f"TCP connect to the proxy 127.0.0.1:{port}"):
            connect("ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{port}", connect_timeout=0.3)
        assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("value", [-1, 0, float("nan"), float("inf"), True])
def test_a_bad_connect_timeout_is_a_value_error_before_any_io(no_leaks: None, value: float) -> None:
    # It was taken as given: 0 or -1 timed out at once, nan and inf failed later with odd errors.
    with pytest.raises(ValueError, match="connect_timeout"):
        Client("ws://127.0.0.1:9/", connect_timeout=value)
    with pytest.raises(ValueError, match="connect_timeout"):
        connect("ws://127.0.0.1:9/", connect_timeout=value)


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


@pytest.mark.parametrize("headers", [{"X-Token": "a\r\nInjected: 1"}, {"Bad Name": "v"}])
def test_bad_proxy_headers_are_a_value_error_before_any_io(no_leaks: None, headers: dict[str, str]) -> None:
    # Request headers are checked in the constructor; proxy headers were checked only after the
    # TCP connection to the proxy was open (an error event, not the documented ValueError).
    accepted = threading.Event()

    def record(conn: socket.socket) -> None:
        accepted.set()

    with raw_server(record) as port:
        proxy = {"origin": f"http://127.0.0.1:{port}", "headers": headers}
        with pytest.raises(ValueError):
            Client("ws://127.0.0.1:9/", proxy=proxy)
        with pytest.raises(ValueError):
            connect("ws://127.0.0.1:9/", proxy=proxy)
    assert not accepted.is_set()


@pytest.mark.parametrize(
    "value", ["socks5://user:s3cret@proxy.example:1080", "http://user:s3cret@proxy.example:99999"]
)
def test_an_unusable_proxy_in_the_environment_is_logged_without_its_password(
    no_leaks: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv("http_proxy", value)
    with caplog.at_level(logging.WARNING, logger="faye_websocket"):
        assert proxy_from_environment(parse_url("ws://127.0.0.1:9/")) is None
    assert "ignoring proxy" in caplog.text and "proxy.example" in caplog.text
    assert "s3cret" not in caplog.text
    with pytest.raises(ValueError) as caught:
        parse_proxy(value)
    assert "s3cret" not in str(caught.value)


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
        assert str(mismatch.value).endswith(f"certificate presented by the origin 127.0.0.1:{server.port}")


@pytest.mark.parametrize("split", [None, 10, 30])
def test_interim_1xx_replies_to_connect_are_skipped(split: int | None) -> None:
    # RFC 9110 section 15.2: a client MUST be able to parse 1xx responses before the final one.
    reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\nHTTP/1.1 200 OK\r\n\r\nrest"
    handshake = ProxyHandshake("example.com", 443)
    parts = [reply] if split is None else [reply[:split], reply[split:]]
    done = [handshake.receive_data(part) for part in parts]
    assert done[-1] and not any(done[:-1])
    assert (handshake.status_code, handshake.error, handshake.leftover) == (200, None, b"rest")
    refused = ProxyHandshake("example.com", 443)
    assert refused.receive_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 407 Auth\r\n\r\n")
    assert refused.error is not None and refused.error.status == 407


def test_a_proxy_reply_head_too_large_is_a_proxy_error_and_bytes_after_the_head_are_the_tunnel(
    no_leaks: None,
) -> None:
    def huge(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"p" * 70000 + b"\r\n\r\n")
        wait_for_eof(conn)

    def eager(conn: socket.socket) -> None:
        # The origin's whole answer arrives in the same write as the proxy's 200.
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        request, _ = read_request(conn)
        conn.sendall(
            switching_protocols(request) + frame(1, b"one") + frame(1, b"two") + frame(8, b"\x03\xe8")
        )
        serve_until_close(conn)

    with raw_server(huge) as port, pytest.raises(ProxyError, match="too large"):
        connect("ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{port}")
    with raw_server(eager) as port, connect("ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{port}") as ws:
        assert list(ws) == ["one", "two"]


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
