"""``faye-websocket serve``: each flag, the access log, protocol mix-ups and shutdown."""

from __future__ import annotations

import http.client

from websockets.exceptions import ConnectionClosed as PeerClosed
from websockets.sync.client import connect

from tests.integration.cli.cli_support import log_lines, serving, start_tls_handshake, wait_for_log
from tests.integration.server.test_drafts import DIGEST, KEY3, draft76_head
from tests.integration.server_support import WAIT, RawClient, handshake_request


def test_serve_echoes_for_an_independent_client_and_logs_101() -> None:
    with serving() as (port, process), connect(f"ws://127.0.0.1:{port}/chat", subprotocols=["xmpp"],
                                              open_timeout=WAIT) as client:
        assert client.subprotocol == "xmpp"
        client.send(b"\x01\x02")
        assert client.recv(timeout=WAIT) == b"\x01\x02"
        assert wait_for_log(process, '"GET /chat HTTP/1.1" 101').startswith("127.0.0.1 ")


def test_each_refusal_is_one_log_line_with_its_status() -> None:
    with serving("--origin", "http://good.example") as (port, process):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        connection.request("GET", "/plain")
        assert connection.getresponse().status == 426
        connection.close()
        bad_origin = handshake_request("/origin", extra=(("Origin", "http://evil.example"),))[0]
        with RawClient(port, request=bad_origin) as raw:
            assert raw.status == 403
        no_key = b"GET /nokey HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                 b"Sec-WebSocket-Version: 13\r\nOrigin: http://good.example\r\n\r\n"
        with RawClient(port, request=no_key) as raw:
            assert raw.status == 400
        wait_for_log(process, '"GET /nokey HTTP/1.1" 400')
        lines = log_lines(process)
    assert [line for line in lines if "/plain" in line] == ['127.0.0.1 "GET /plain HTTP/1.1" 426 -']
    assert [line for line in lines if "/origin" in line] == ['127.0.0.1 "GET /origin HTTP/1.1" 403 -']
    assert len([line for line in lines if "/nokey" in line]) == 1


def test_origin_flag_accepts_the_listed_origin() -> None:
    with serving("--origin", "http://good.example") as (port, _), connect(
        f"ws://127.0.0.1:{port}/", origin="http://good.example", open_timeout=WAIT  # type: ignore[arg-type]
    ) as client:
        client.send("fine")
        assert client.recv(timeout=WAIT) == "fine"


def test_host_flag_listens_on_that_address() -> None:
    with serving("--host", "127.0.0.2") as (port, process):
        assert f"Listening on ws://127.0.0.2:{port}/" in process.output()
        with connect(f"ws://127.0.0.2:{port}/", open_timeout=WAIT) as client:
            client.send("there")
            assert client.recv(timeout=WAIT) == "there"


def test_drafts_are_refused_unless_allowed() -> None:
    with serving() as (port, _), RawClient(port, request=draft76_head(), trailing=KEY3) as raw:
        assert raw.status == 400
    with (serving("--allow-drafts") as (port, _),
          RawClient(port, request=draft76_head(), trailing=KEY3) as raw):
        assert raw.status == 101
        assert raw.read_exact(16) == DIGEST


def test_tls_flag_serves_wss_with_the_given_certificate(tls_certs) -> None:
    with serving("--tls", str(tls_certs.server_crt), str(tls_certs.server_key)) as (port, process):
        assert f"Listening on wss://127.0.0.1:{port}/" in process.output()
        with connect(f"wss://localhost:{port}/", ssl=tls_certs.client_context(), open_timeout=WAIT) as client:
            client.send("over TLS")
            assert client.recv(timeout=WAIT) == "over TLS"
        wait_for_log(process, '"GET / HTTP/1.1" 101')


def test_plain_http_on_the_tls_port_gets_a_plain_400_and_one_clear_log_line(tls_certs) -> None:
    with serving("--tls", str(tls_certs.server_crt), str(tls_certs.server_key)) as (port, process):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 400
        assert b"use https:// or wss://" in response.read()
        connection.close()
        line = wait_for_log(process, "plain HTTP")
        assert "https:// or wss://" in line
        assert "Traceback" not in process.output()


def test_tls_on_the_plain_port_is_one_clear_log_line_without_the_client_hello() -> None:
    with serving() as (port, process):
        start_tls_handshake(port)
        line = wait_for_log(process, "TLS handshake")
        output = process.output()
    assert "--tls CERT KEY" in line and "ws://" in line
    assert "\\x16" not in output and "\x16" not in output and "Bad request" not in output
    assert "Traceback" not in output


def test_sigterm_closes_live_connections_with_1001_and_exits_0() -> None:
    with serving() as (port, process), connect(f"ws://127.0.0.1:{port}/", open_timeout=WAIT) as client:
        client.send("still here")
        assert client.recv(timeout=WAIT) == "still here"
        process.stop()
        try:
            client.recv(timeout=WAIT)
            raise AssertionError("the connection stayed open")
        except PeerClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1001
        assert process.poll() == 0
