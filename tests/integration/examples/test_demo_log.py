"""The demo server's log: one line per request with its status, WebSocket upgrades included, and
one clear line (no ClientHello bytes) when a client speaks TLS to the plain port or the reverse."""

from __future__ import annotations

import http.client

from websockets.sync.client import connect

from tests.integration.cli.cli_support import start_tls_handshake, wait_for_log
from tests.integration.examples.test_demo_server import demo
from tests.integration.server_support import WAIT, RawClient


def test_websocket_upgrades_and_refusals_are_logged_with_their_status() -> None:
    with demo() as (port, process):
        with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=WAIT) as client:
            client.send("logged")
            assert client.recv(timeout=WAIT) == "logged"
        assert wait_for_log(process, '"GET /echo HTTP/1.1" 101')
        no_key = b"GET /bad HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                 b"Sec-WebSocket-Version: 13\r\n\r\n"
        with RawClient(port, request=no_key) as raw:
            assert raw.status == 400
        assert wait_for_log(process, '"GET /bad HTTP/1.1" 400')


def test_tls_to_the_plain_demo_is_one_clear_line() -> None:
    with demo() as (port, process):
        start_tls_handshake(port)
        assert "--tls" in wait_for_log(process, "TLS handshake on this plain port")
        assert "\\x16" not in process.output() and "Bad request" not in process.output()


def test_plain_http_to_the_tls_demo_gets_a_plain_400() -> None:
    with demo("--tls") as (port, process):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        connection.request("GET", "/ws.html")
        response = connection.getresponse()
        assert response.status == 400 and b"https://" in response.read()
        connection.close()
        assert "Traceback" not in wait_for_log(process, "plain HTTP")
