"""The client through a real SOCKS5 proxy (Debian's microsocks): ws and wss, with and without
credentials, with local (socks5) and remote (socks5h) name resolution, from ``proxy=`` and from
``all_proxy``. microsocks logs every tunnel it opens ("connected to HOST:PORT"), which shows that
the bytes went through it and which name it resolved.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from faye_websocket.client import connect
from faye_websocket.errors import ProxyError
from tests.integration.client_support import WAIT, EchoServer, echo_server
from tests.integration.components import TLSCerts
from tests.integration.components.socks import SocksServer, run_microsocks

pytestmark = pytest.mark.usefixtures("no_proxy_environment")


@pytest.fixture(scope="module")
def socks() -> Iterator[SocksServer]:
    with run_microsocks() as server:
        yield server


@pytest.fixture(scope="module")
def socks_auth() -> Iterator[SocksServer]:
    with run_microsocks(auth=True) as server:
        yield server


@pytest.fixture
def plain_server() -> Iterator[EchoServer]:
    with echo_server() as server:
        yield server


@pytest.fixture
def tls_server(tls_certs: TLSCerts) -> Iterator[EchoServer]:
    with echo_server(tls_certs.server_context()) as server:
        yield server


def echo_once(url: str, **options: object) -> str | bytes:
    with connect(url, **options) as ws:  # type: ignore[arg-type]
        ws.send("through socks")
        return ws.recv(timeout=WAIT)


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_ws_through_socks_without_credentials(
    socks: SocksServer, no_leaks: None, plain_server: EchoServer, scheme: str
) -> None:
    url = plain_server.url(host="localhost")
    assert echo_once(url, proxy=socks.url(scheme)) == "through socks"
    # socks5h sends the name for the proxy to resolve; socks5 sends the address we resolved.
    host = "localhost" if scheme == "socks5h" else "127.0.0.1"
    assert socks.tunnelled(f"{host}:{plain_server.port}", WAIT)


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_ws_through_socks_with_credentials(
    socks_auth: SocksServer, no_leaks: None, plain_server: EchoServer, scheme: str
) -> None:
    assert echo_once(plain_server.url(host="localhost"), proxy=socks_auth.url(scheme)) == "through socks"


@pytest.mark.parametrize("credentials", [False, True])
def test_wss_through_socks5h(
    socks: SocksServer, socks_auth: SocksServer, no_leaks: None, tls_server: EchoServer,
    tls_certs: TLSCerts, credentials: bool,
) -> None:
    proxy = socks_auth if credentials else socks
    url = tls_server.url(host="localhost")
    reply = echo_once(url, proxy=proxy.url("socks5h"), tls={"cafile": str(tls_certs.ca_pem)})
    assert reply == "through socks"
    assert proxy.tunnelled(f"localhost:{tls_server.port}", WAIT)


def test_wrong_or_missing_credentials_are_a_proxy_error_without_the_password(
    socks_auth: SocksServer, no_leaks: None, plain_server: EchoServer
) -> None:
    wrong = socks_auth.url("socks5h").replace("s0cks", "wrong")
    with pytest.raises(ProxyError, match="refused the username and password") as refused:
        connect(plain_server.url(), proxy=wrong, connect_timeout=WAIT)
    assert "wrong" not in str(refused.value)
    with pytest.raises(ProxyError, match="requires authentication"):
        connect(plain_server.url(), proxy=socks_auth.url("socks5h", credentials=False), connect_timeout=WAIT)


def test_all_proxy_from_the_environment_is_used(
    socks_auth: SocksServer, no_leaks: None, plain_server: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("all_proxy", socks_auth.url("socks5h"))
    assert echo_once(plain_server.url(host="localhost")) == "through socks"
    assert socks_auth.tunnelled(f"localhost:{plain_server.port}", WAIT)


def test_a_proxy_scheme_we_cannot_speak_is_an_error_not_a_bypass(
    no_leaks: None, plain_server: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="unsupported proxy"):
        connect(plain_server.url(), proxy="socks://127.0.0.1:1080")
    monkeypatch.setenv("all_proxy", "gopher://127.0.0.1:70")
    with pytest.raises(ValueError, match="all_proxy"):
        connect(plain_server.url())
