"""Fixtures of the client's integration tests: no proxy from the machine's environment, and the two
session proxies (squid, tinyproxy) as one parametrized ``proxy``."""

from __future__ import annotations

import pytest

from tests.integration.components import ProxyServer


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(no_proxy_environment: None) -> None:
    """Every client test reaches its servers directly unless it names (or sets) a proxy itself."""


@pytest.fixture
def proxies(squid_proxy: ProxyServer, tinyproxy_proxy: ProxyServer) -> dict[str, ProxyServer]:
    """Both session proxies, started before a test's leak baseline is taken."""
    return {"squid": squid_proxy, "tinyproxy": tinyproxy_proxy}


@pytest.fixture(params=["squid", "tinyproxy"])
def proxy(request: pytest.FixtureRequest, proxies: dict[str, ProxyServer]) -> ProxyServer:
    """Each real CONNECT proxy in turn: the test runs once through squid, once through tinyproxy."""
    return proxies[request.param]
