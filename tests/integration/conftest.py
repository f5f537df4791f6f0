"""Fixtures for real components (certificates, proxies, reverse proxies, browser, node peers).

Session-scoped fixtures are per pytest-xdist worker; every program listens on a fresh loopback port
and works in its own temporary directory. See tests/integration/components/__init__.py for the list.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.integration.components import (
    NodePeer,
    ProxyServer,
    ResultCollector,
    ReverseProxy,
    TLSCerts,
    make_tls_certs,
    run_node_server,
    run_reverse_proxy,
    run_squid,
    run_tinyproxy,
)


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TLSCerts:
    """A trustme CA and a leaf for localhost, 127.0.0.1 and ::1 (files, contexts, chromium pin)."""
    return make_tls_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def squid_proxy(tls_certs: TLSCerts) -> Iterator[ProxyServer]:
    """A squid with Basic auth user/secret: `port` (plain), `tls_port` (TLS), without_auth()."""
    with run_squid(tls_certs) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def squid_noauth_proxy(squid_proxy: ProxyServer) -> ProxyServer:
    """The same squid's listener that wants no credentials (plain only)."""
    return squid_proxy.without_auth()


@pytest.fixture(scope="session")
def tinyproxy_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """A tinyproxy with Basic auth user/secret (no TLS listener; wrong credentials get 401)."""
    with run_tinyproxy(tmp_path_factory.mktemp("tinyproxy")) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def tinyproxy_noauth_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """A tinyproxy that wants no credentials."""
    with run_tinyproxy(tmp_path_factory.mktemp("tinyproxy-noauth"), auth=False) as proxy:
        yield proxy


def _reverse_proxies(
    kind: str, tmp_path: Path, tls_certs: TLSCerts
) -> Iterator[Callable[[int], ReverseProxy]]:
    """A factory fixture's body: each call starts ``kind`` before a backend port; all stop at the end."""
    with ExitStack() as stack:
        count = iter(range(1_000_000))

        def start(backend_port: int) -> ReverseProxy:
            workdir = tmp_path / f"{kind}-{next(count)}"
            return stack.enter_context(run_reverse_proxy(kind, workdir, backend_port, tls_certs))

        yield start


@pytest.fixture
def nginx_proxy(tmp_path: Path, tls_certs: TLSCerts) -> Iterator[Callable[[int], ReverseProxy]]:
    """Factory: nginx_proxy(backend_port) starts nginx in front of 127.0.0.1:backend_port.

    Stopped at the end of the test. The ReverseProxy has port (http) and tls_port (https).
    """
    yield from _reverse_proxies("nginx", tmp_path, tls_certs)


@pytest.fixture
def haproxy_proxy(tmp_path: Path, tls_certs: TLSCerts) -> Iterator[Callable[[int], ReverseProxy]]:
    """Factory: haproxy_proxy(backend_port) starts haproxy in front of 127.0.0.1:backend_port.

    Stopped at the end of the test. The ReverseProxy has port (http) and tls_port (https).
    """
    yield from _reverse_proxies("haproxy", tmp_path, tls_certs)


@pytest.fixture
def node_peer_server(tls_certs: TLSCerts) -> Iterator[Callable[..., NodePeer]]:
    """Factory: node_peer_server("ws_echo_server" | "faye_echo_server", tls=False) starts that script.

    Returns a NodePeer (host, port, tls, url(path, scheme, host)); with tls=True it serves wss/https
    with the tls_certs leaf. Stopped at the end of the test.
    """
    with ExitStack() as stack:

        def start(name: str, tls: bool = False) -> NodePeer:
            return stack.enter_context(run_node_server(name, certs=tls_certs if tls else None))

        yield start


@pytest.fixture
def result_collector() -> Iterator[ResultCollector]:
    """A ResultCollector (static routes + POST /result queue) on 127.0.0.1, closed after the test."""
    with ResultCollector() as collector:
        yield collector


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    """Garbage collection off for the test: an object still alive after its last reference went
    is held by a reference cycle (the freed-connection tests of the server and the client)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
