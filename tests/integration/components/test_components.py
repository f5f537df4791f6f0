"""Each real component the suite relies on starts, does its job, and is stopped (the fixtures work)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.components import (
    NodePeer,
    Process,
    ProxyServer,
    ResultCollector,
    ReverseProxy,
    TLSCerts,
    assert_no_leaks,
    live_group_members,
    require_executable,
    run_chromium,
    run_node_client,
)

# Bound for every socket operation in these tests.
IO_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def tcp_echo_server() -> Iterator[tuple[str, int]]:
    """A TCP server on 127.0.0.1 that echoes every connection until EOF; yields (host, port)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stopping = threading.Event()
    workers: list[threading.Thread] = []

    def echo(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(IO_TIMEOUT)
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def accept_loop() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            worker = threading.Thread(target=echo, args=(conn,), name="echo-conn")
            worker.start()
            workers.append(worker)

    acceptor = threading.Thread(target=accept_loop, name="echo-accept")
    acceptor.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        stopping.set()
        acceptor.join(IO_TIMEOUT)
        listener.close()
        for worker in workers:
            worker.join(IO_TIMEOUT)


@pytest.fixture
def http_backend() -> Iterator[int]:
    """A stdlib HTTP server on 127.0.0.1 answering every GET with the Host header it saw."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"backend saw host={self.headers.get('Host')}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.block_on_close = True
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        thread.join(IO_TIMEOUT)
        server.server_close()


def read_head(sock: socket.socket | ssl.SSLSocket) -> bytes:
    """Read until the end of an HTTP response head (the proxies send no body bytes after CONNECT)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return head


def connect_through(proxy: ProxyServer, target: tuple[str, int], *, tls: bool = False,
                    certs: TLSCerts | None = None, credentials: bool = True,
                    authorization: str | None = None) -> tuple[socket.socket | ssl.SSLSocket, bytes]:
    """Open a (TLS) connection to the proxy, send CONNECT for `target`, return (socket, response head)."""
    port = proxy.tls_port if tls else proxy.port
    assert port is not None
    sock: socket.socket | ssl.SSLSocket = socket.create_connection((proxy.host, port), timeout=IO_TIMEOUT)
    if tls:
        assert certs is not None
        sock = certs.client_context().wrap_socket(sock, server_hostname=proxy.host)
    request = proxy.connect_request(f"{target[0]}:{target[1]}", credentials=credentials)
    if authorization is not None:
        request = request.replace(b"\r\n\r\n", f"\r\nProxy-Authorization: {authorization}\r\n\r\n".encode())
    sock.sendall(request)
    return sock, read_head(sock)


def assert_tunnel_echoes(sock: socket.socket | ssl.SSLSocket) -> None:
    """Send a few bytes through an established tunnel and expect them back from the echo server."""
    with sock:
        sock.sendall(b"ping through the tunnel")
        assert read_exactly(sock, 23) == b"ping through the tunnel"


def read_exactly(sock: socket.socket | ssl.SSLSocket, count: int) -> bytes:
    """Read exactly `count` bytes or fail on EOF."""
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


def test_missing_executable_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_executable("no-such-program-faye")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_executable("no-such-program-faye")
    assert require_executable("sh").endswith("/sh")


def test_process_stop_ends_the_whole_process_group() -> None:
    proc = Process(["sh", "-c", "sleep 30 & echo ready; wait"], ready_line="^ready")
    with proc:
        assert len(live_group_members(proc.pid)) == 2
    assert proc.poll() is not None
    assert live_group_members(proc.pid) == []


def test_process_that_exits_early_reports_its_output() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        Process(["sh", "-c", "echo boom; exit 3"], ready_line="^never").start()


def test_leak_check_reports_a_thread_left_running() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(IO_TIMEOUT,), name="left-running")
    with pytest.raises(AssertionError, match="left-running"), assert_no_leaks(timeout=0.1):
        thread.start()
    release.set()
    thread.join(IO_TIMEOUT)


def test_tls_certs_give_a_verified_handshake_and_chromium_pin(tls_certs: TLSCerts) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    server_ctx = tls_certs.server_context()

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(tls.recv(100))

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        raw = socket.create_connection(listener.getsockname()[:2], timeout=IO_TIMEOUT)
        with tls_certs.client_context().wrap_socket(raw, server_hostname="localhost") as client:
            client.sendall(b"hi")
            assert client.recv(100) == b"hi"
    finally:
        thread.join(IO_TIMEOUT)
        listener.close()
    openssl = require_executable("openssl")
    pubkey = subprocess.run([openssl, "x509", "-in", str(tls_certs.server_crt), "-pubkey", "-noout"],
                            capture_output=True, check=True, timeout=10).stdout
    der = subprocess.run([openssl, "pkey", "-pubin", "-outform", "der"], input=pubkey,
                         capture_output=True, check=True, timeout=10).stdout
    assert tls_certs.spki_pin == base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_squid_tunnels_with_basic_auth_on_plain_and_tls_listeners(
    squid_proxy: ProxyServer, tls_certs: TLSCerts, tcp_echo_server: tuple[str, int]
) -> None:
    sock, head = connect_through(squid_proxy, tcp_echo_server)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert_tunnel_echoes(sock)
    sock, head = connect_through(squid_proxy, tcp_echo_server, tls=True, certs=tls_certs)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert_tunnel_echoes(sock)


def test_squid_answers_missing_or_wrong_credentials_with_407(
    squid_proxy: ProxyServer, tcp_echo_server: tuple[str, int]
) -> None:
    wrong = squid_proxy.authorization("user", "wrong")
    for authorization in (None, wrong):
        sock, head = connect_through(squid_proxy, tcp_echo_server, credentials=False,
                                     authorization=authorization)
        sock.close()
        assert head.startswith(b"HTTP/1.1 407"), head
        assert b"Proxy-Authenticate: Basic" in head


def test_squid_noauth_listener_tunnels_without_credentials(
    squid_noauth_proxy: ProxyServer, tcp_echo_server: tuple[str, int]
) -> None:
    sock, head = connect_through(squid_noauth_proxy, tcp_echo_server)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert_tunnel_echoes(sock)


def test_tinyproxy_tunnels_with_http_1_0_200_and_answers_wrong_credentials_with_401(
    tinyproxy_proxy: ProxyServer, tcp_echo_server: tuple[str, int]
) -> None:
    sock, head = connect_through(tinyproxy_proxy, tcp_echo_server)
    assert head.startswith(b"HTTP/1.0 200"), head
    assert_tunnel_echoes(sock)
    sock, head = connect_through(tinyproxy_proxy, tcp_echo_server, credentials=False,
                                 authorization=tinyproxy_proxy.authorization("user", "wrong"))
    sock.close()
    assert head.startswith(b"HTTP/1.0 401") or head.startswith(b"HTTP/1.1 401"), head
    sock, head = connect_through(tinyproxy_proxy, tcp_echo_server, credentials=False)
    sock.close()
    assert b" 407 " in head.split(b"\r\n")[0], head


def test_tinyproxy_noauth_tunnels_without_credentials(
    tinyproxy_noauth_proxy: ProxyServer, tcp_echo_server: tuple[str, int]
) -> None:
    sock, head = connect_through(tinyproxy_noauth_proxy, tcp_echo_server)
    assert head.startswith(b"HTTP/1.0 200"), head
    assert_tunnel_echoes(sock)


def get_through(proxy: ReverseProxy, certs: TLSCerts, tls: bool) -> tuple[int, bytes]:
    """GET / through the reverse proxy's plain or TLS listener; return (status, body)."""
    conn: http.client.HTTPConnection
    if tls:
        conn = http.client.HTTPSConnection(proxy.host, proxy.tls_port, timeout=IO_TIMEOUT,
                                           context=certs.client_context())
    else:
        conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=IO_TIMEOUT)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("kind", ["nginx", "haproxy"])
def test_reverse_proxy_forwards_plain_and_tls_requests(
    kind: str, request: pytest.FixtureRequest, http_backend: int, tls_certs: TLSCerts
) -> None:
    start: Callable[[int], ReverseProxy] = request.getfixturevalue(f"{kind}_proxy")
    proxy = start(http_backend)
    for tls in (False, True):
        status, body = get_through(proxy, tls_certs, tls)
        assert status == 200, (body, proxy.process.output() if proxy.process else "")
        assert body.startswith(b"backend saw host=127.0.0.1")


PAGE = """<!doctype html><title>result</title><script>
fetch('/result', {method: 'POST', body: JSON.stringify({ok: true, agent: navigator.userAgent})});
</script>"""


def test_chromium_loads_a_page_that_posts_its_result(result_collector: ResultCollector) -> None:
    result_collector.add_route("/page.html", PAGE)
    with run_chromium(result_collector.url("/page.html"), timeout=20) as browser:
        result = result_collector.wait_result(browser.remaining(), context=browser.output())
    assert result["ok"] is True
    assert "HeadlessChrome" in result["agent"]


def test_chromium_accepts_the_test_certificate_by_its_spki_pin(tls_certs: TLSCerts) -> None:
    with ResultCollector(ssl_context=tls_certs.server_context()) as collector:
        collector.add_route("/page.html", PAGE)
        url = collector.url("/page.html", host="localhost")
        with run_chromium(url, timeout=20, extra_flags=tls_certs.chromium_flags()) as browser:
            result = collector.wait_result(browser.remaining(), context=browser.output())
    assert result["ok"] is True


def test_node_ws_echo_server_answers_a_raw_handshake_with_101(
    node_peer_server: Callable[[str], NodePeer]
) -> None:
    peer = node_peer_server("ws_echo_server")
    with socket.create_connection((peer.host, peer.port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101"), head
    # RFC 6455 section 1.3: the accept value for the sample nonce.
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head


@pytest.mark.parametrize("client", ["ws_client", "faye_client"])
def test_node_clients_echo_through_faye_server_with_permessage_deflate(
    client: str, node_peer_server: Callable[[str], NodePeer]
) -> None:
    peer = node_peer_server("faye_echo_server")
    result = run_node_client(client, peer.url("/"), ["one", "hex:00ff"])
    assert result.returncode == 0, result.output
    assert result.messages == ["one", b"\x00\xff"]
    assert result.extensions == "permessage-deflate"


def test_node_faye_eventsource_continues_from_last_event_id(
    node_peer_server: Callable[[str], NodePeer]
) -> None:
    peer = node_peer_server("faye_echo_server")
    conn = http.client.HTTPConnection(peer.host, peer.port, timeout=IO_TIMEOUT)
    try:
        conn.request("GET", "/events?count=2&close=1",
                     headers={"Accept": "text/event-stream", "Last-Event-ID": "41"})
        body = conn.getresponse().read()
    finally:
        conn.close()
    assert b"id: 42\r\ndata: Time: 42\r\n\r\n" in body
    assert b"event: update\r\nid: 43\r\n" in body


def test_result_collector_serves_files_records_posts_and_leaves_nothing_behind(
    no_leaks: None, tmp_path: Path
) -> None:
    (tmp_path / "page.js").write_text("// static file")
    with ResultCollector(directory=tmp_path) as collector:
        conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=IO_TIMEOUT)
        try:
            conn.request("GET", "/page.js")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"// static file")
            assert response.getheader("Content-Type") == "text/javascript"
            conn.request("GET", "/../etc/passwd")
            assert conn.getresponse().status == 404
        finally:
            conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=IO_TIMEOUT)
        try:
            conn.request("POST", "/result", body=b'{"n": 1}')
            assert conn.getresponse().status == 204
        finally:
            conn.close()
        assert collector.wait_result(IO_TIMEOUT) == {"n": 1}
        with pytest.raises(AssertionError, match="no POST /result"):
            collector.wait_result(0.01)


@pytest.mark.parametrize("server", ["ws_echo_server", "faye_echo_server"])
def test_node_peers_serve_wss_with_the_test_certificate(
    server: str, node_peer_server: Callable[..., NodePeer], tls_certs: TLSCerts
) -> None:
    peer = node_peer_server(server, tls=True)
    result = run_node_client("ws_client", peer.url("/", host="localhost"), ["secure"], certs=tls_certs)
    assert result.returncode == 0, result.output
    assert result.messages == ["secure"]
