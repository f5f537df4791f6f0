"""The opening phase through real CONNECT proxies: tunnels, TLS to the proxy, TLS inside TLS.

The origin is a tiny loopback server (plain or TLS) that greets the client at once; the opening
phase must hand back a transport on which the greeting is readable without stalling.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from faye_websocket.driver.url import parse_url
from faye_websocket.errors import ProxyError
from faye_websocket.net.dial import Opener
from faye_websocket.net.proxies import parse_proxy, proxy_from_environment
from faye_websocket.net.tls import tls_settings
from faye_websocket.net.transport import Transport
from tests.integration.client_support import WAIT
from tests.integration.components import ProxyServer, TLSCerts

GREETING = b"hello from the origin\n"


@contextmanager
def greeting_server(context: ssl.SSLContext | None = None, chunks: int = 1) -> Iterator[int]:
    """A one-connection-at-a-time server on 127.0.0.1 that sends GREETING (in `chunks` writes)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    peer = context.wrap_socket(conn, server_side=True) if context else conn
                    for _ in range(chunks):
                        peer.sendall(GREETING)
                    peer.settimeout(WAIT)
                    peer.recv(1)  # hold the connection until the client is done
                except OSError:
                    pass

    thread = threading.Thread(target=serve, name="greeting-server")
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        listener.close()
        thread.join(WAIT)


def read_like_a_select_loop(transport: Transport, size: int) -> tuple[bytes, float]:
    """Read `size` bytes the way a reader loop does: pending() first, then select, then recv."""
    started, data = time.monotonic(), b""
    while len(data) < size:
        if not transport.pending():
            readable, _, _ = select.select([transport.fileno()], [], [], WAIT)
            assert readable, f"stalled after {data!r}"
        chunk = transport.recv(size - len(data))
        assert chunk, "unexpected EOF"
        data += chunk
    return data, time.monotonic() - started


def open_through(proxy: str | dict[str, object], url: str, **options: object) -> Opener:
    target = parse_url(url)
    return Opener(target, proxy=parse_proxy(proxy), timeout=WAIT, **options)  # type: ignore[arg-type]


@pytest.fixture
def plain_origin() -> Iterator[int]:
    with greeting_server() as port:
        yield port


@pytest.fixture
def tls_origin(tls_certs: TLSCerts) -> Iterator[int]:
    with greeting_server(tls_certs.server_context(), chunks=3) as port:
        yield port


def test_ws_tunnel_through_each_proxy_reaches_the_origin(
    proxy: ProxyServer, no_leaks: None, plain_origin: int
) -> None:
    opened = open_through(proxy.url(), f"ws://127.0.0.1:{plain_origin}/").open()
    try:
        assert opened.proxy_status == 200
        data, _ = read_like_a_select_loop(opened.transport, len(GREETING) - len(opened.leftover))
        assert opened.leftover + data == GREETING
    finally:
        opened.transport.close()


def test_wss_tunnel_through_each_proxy_verifies_the_origin_certificate(
    proxy: ProxyServer, no_leaks: None, tls_origin: int, tls_certs: TLSCerts
) -> None:
    settings = tls_settings(tls_certs.client_context())
    opened = open_through(proxy.url(), f"wss://localhost:{tls_origin}/", tls=settings).open()
    try:
        data, _ = read_like_a_select_loop(opened.transport, 3 * len(GREETING))
        assert data == 3 * GREETING
    finally:
        opened.transport.close()


def test_wss_through_squid_tls_listener_runs_tls_in_tls_without_stalling(
    no_leaks: None, squid_proxy: ProxyServer, tls_origin: int, tls_certs: TLSCerts
) -> None:
    proxy = {"origin": squid_proxy.url(tls=True), "tls": tls_certs.client_context()}
    settings = tls_settings(tls_certs.client_context())
    opened = open_through(proxy, f"wss://localhost:{tls_origin}/", tls=settings).open()
    try:
        data, elapsed = read_like_a_select_loop(opened.transport, 3 * len(GREETING))
        assert data == 3 * GREETING
        assert elapsed < 1.0
    finally:
        opened.transport.close()


def test_ws_through_squid_tls_listener(
    no_leaks: None, squid_proxy: ProxyServer, plain_origin: int, tls_certs: TLSCerts
) -> None:
    proxy = {"origin": squid_proxy.url(tls=True), "tls": {"cafile": str(tls_certs.ca_pem)}}
    opened = open_through(proxy, f"ws://127.0.0.1:{plain_origin}/").open()
    try:
        data, _ = read_like_a_select_loop(opened.transport, len(GREETING))
        assert data == GREETING
    finally:
        opened.transport.close()


@pytest.mark.parametrize(
    ("fixture", "password", "status"),
    [
        ("squid", "wrong", 407),
        ("squid", None, 407),
        ("tinyproxy", "wrong", 401),
        ("tinyproxy", None, 407),
    ],
)
def test_refused_credentials_raise_proxy_error_with_the_status_and_close_the_socket(
    proxies: dict[str, ProxyServer],
    no_leaks: None,
    fixture: str,
    password: str | None,
    status: int,
    plain_origin: int,
) -> None:
    server = proxies[fixture]
    userinfo = f"{server.username}:{password}@" if password else ""
    with pytest.raises(ProxyError) as caught:
        open_through(
            f"http://{userinfo}{server.host}:{server.port}", f"ws://127.0.0.1:{plain_origin}/"
        ).open()
    assert caught.value.status == status


def test_proxy_from_environment_is_used_and_no_proxy_bypasses_it(
    no_leaks: None, squid_proxy: ProxyServer, plain_origin: int
) -> None:
    target = parse_url(f"ws://127.0.0.1:{plain_origin}/")
    env = {"http_proxy": squid_proxy.url()}
    proxy = proxy_from_environment(target, env)
    assert proxy is not None and proxy.port == squid_proxy.port
    opened = Opener(target, proxy=proxy, timeout=WAIT).open()
    try:
        assert opened.proxy_status == 200
    finally:
        opened.transport.close()
    assert proxy_from_environment(target, {**env, "no_proxy": "127.0.0.1"}) is None


def test_wrong_origin_certificate_fails_inside_the_tunnel(
    no_leaks: None, squid_proxy: ProxyServer, tls_origin: int
) -> None:
    opener = open_through(squid_proxy.url(), f"wss://localhost:{tls_origin}/")
    with pytest.raises(ssl.SSLCertVerificationError):
        opener.open()


def test_origin_host_name_is_checked_when_tunnelled(
    no_leaks: None, squid_proxy: ProxyServer, tls_origin: int, tls_certs: TLSCerts
) -> None:
    # The certificate names 127.0.0.1, so the IP check passes; a name it lacks must fail.
    settings = tls_settings(tls_certs.client_context())
    opened = open_through(squid_proxy.url(), f"wss://127.0.0.1:{tls_origin}/", tls=settings).open()
    opened.transport.close()
    sni = tls_settings({"cafile": str(tls_certs.ca_pem), "server_hostname": "example.org"})
    with pytest.raises(ssl.SSLCertVerificationError, match="example.org"):
        open_through(squid_proxy.url(), f"wss://127.0.0.1:{tls_origin}/", tls=sni).open()


def test_a_silent_proxy_times_out_within_the_connect_budget(no_leaks: None) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        target = parse_url("ws://127.0.0.1:9/")
        opener = Opener(target, proxy=parse_proxy(f"http://127.0.0.1:{port}"), timeout=0.3)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="proxy CONNECT"):
            opener.open()
        assert time.monotonic() - started < 2.0
    finally:
        listener.close()


def test_abort_wakes_a_blocked_opening(no_leaks: None) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT)
    try:
        port = listener.getsockname()[1]
        opener = Opener(parse_url("ws://127.0.0.1:9/"), proxy=parse_proxy(f"127.0.0.1:{port}"))
        errors: list[BaseException] = []
        started = threading.Event()

        def run() -> None:
            started.set()
            try:
                opener.open()
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        started.wait(WAIT)
        conn, _ = listener.accept()  # the CONNECT has been sent; the opener now waits for the reply
        conn.recv(1024)
        opener.abort()
        thread.join(WAIT)
        conn.close()
        assert not thread.is_alive()
        assert errors and isinstance(errors[0], ConnectionAbortedError)
    finally:
        listener.close()
