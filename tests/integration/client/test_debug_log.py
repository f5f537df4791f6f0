"""The debug log of one connection: handshake heads, the proxy hop, the close, and no password;
nothing above DEBUG in normal operation; the frame trace only behind its own switch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from faye_websocket import logs
from faye_websocket.client import connect
from tests.integration.client_support import WAIT
from tests.integration.components.socks import SocksServer, run_microsocks
from tests.integration.server_support import HTTPServerThread

PASSWORD = "hunter2-secret"


@pytest.fixture
def socks_auth() -> Iterator[SocksServer]:
    with run_microsocks(auth=True) as server:
        yield server


def one_connection(url: str, **options: object) -> None:
    with connect(url, **options) as ws:  # type: ignore[arg-type]
        ws.send("hello")
        assert ws.recv(timeout=WAIT) == "hello"
        ws.close(1001, "going away")


def test_one_connection_at_debug_shows_handshake_proxy_and_close_and_no_password(
    no_leaks: None, no_proxy_environment: None, caplog: pytest.LogCaptureFixture, socks_auth: SocksServer
) -> None:
    caplog.set_level(logging.DEBUG, logger="faye_websocket")
    with HTTPServerThread() as server:
        url = server.url().replace("ws://", f"ws://alice:{PASSWORD}@")
        one_connection(url, proxy=socks_auth.url("socks5h"), headers={"Cookie": f"session={PASSWORD}"})
        server.recorded.wait_for("close")
    text = "\n".join(record.getMessage() for record in caplog.records)
    client_lines = [line for line in text.splitlines() if line.startswith("c")]
    connection_id = client_lines[0].split()[0]
    assert all(line.startswith(connection_id) for line in client_lines)  # one id follows the connection
    assert "GET / HTTP/1.1" in text and "Authorization: Basic ***" in text
    assert "HTTP/1.1 101" in text and "upgrade: websocket" in text.lower()
    assert "socks5h proxy 127.0.0.1" in text  # the proxy hop
    assert "1001" in text and "going away" in text  # the close code and reason
    assert PASSWORD not in text and socks_auth.password not in text  # type: ignore[operator]
    assert all(record.levelno == logging.DEBUG for record in caplog.records)
    assert not any(record.name == "faye_websocket.frames" for record in caplog.records)


def test_the_frame_trace_has_its_own_switch(no_leaks: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="faye_websocket")
    logs.trace_frames(True)
    try:
        with HTTPServerThread() as server:
            one_connection(server.url())
            server.recorded.wait_for("close")
    finally:
        logs.trace_frames(False)
    frames = [record.getMessage() for record in caplog.records if record.name == "faye_websocket.frames"]
    assert any("text 5 B 'hello'" in line and "send" in line for line in frames)
    assert any("text 5 B 'hello'" in line and "recv" in line for line in frames)
