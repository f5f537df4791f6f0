"""The DNS lookup of the client's opening phase counts against connect_timeout."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from faye_websocket import connect
from faye_websocket.net.dial import resolve


def test_ip_literals_and_names_resolve() -> None:
    assert resolve("127.0.0.1", 80, 5.0)[0][4] == ("127.0.0.1", 80)
    assert any(info[4][0] in ("127.0.0.1", "::1") for info in resolve("localhost", 80, 5.0))


def test_a_resolver_that_never_answers_times_out_within_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A stalled resolver cannot be produced on this loopback-only machine, so getaddrinfo is
    # replaced by one that blocks until the test ends.
    release = threading.Event()
    real = socket.getaddrinfo

    def stalled(host: str, *args: object, **kwargs: object) -> object:
        if host == "stalled.invalid":
            release.wait(10)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", stalled)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="DNS lookup"):
            connect("ws://stalled.invalid:9/", connect_timeout=0.5, proxy=False)
        assert time.monotonic() - started < 3.0
    finally:
        release.set()
