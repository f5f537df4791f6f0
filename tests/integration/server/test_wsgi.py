"""WSGI takeover on real WSGI servers: gunicorn (gthread and sync), werkzeug, wsgiref; waitress
cannot upgrade and must answer 501.

Each upgrade test pipelines the first frame behind the request head (the server has then already
read it into its own buffer), and checks that after the closing handshake the server writes
nothing more on the connection (no stray ``HTTP/1.1 200``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from websockets.sync.client import connect

from faye_websocket.server.websocket import WebSocket
from faye_websocket.server.wsgi import websocket_app
from tests.integration.components import Process, free_port, gunicorn_server, werkzeug_server, wsgiref_server
from tests.integration.server_support import BINARY, TEXT, WAIT, RawClient, client_frame
from tests.paths import EXAMPLES


def echo(ws: WebSocket) -> None:
    ws.on("message", lambda event: ws.send(event.data))
    ws.run()


def fallback(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"plain"]


APP = websocket_app(echo, ["irc", "xmpp"], fallback=fallback)


@contextmanager
def gunicorn_port(worker: str) -> Iterator[int]:
    """gunicorn with ``worker`` serving examples/wsgi_app.py's application."""
    with gunicorn_server("wsgi_app:application", worker=worker, chdir=EXAMPLES) as (port, _):
        yield port


SERVERS: dict[str, Callable[[], AbstractContextManager[int]]] = {
    "gunicorn_gthread": lambda: gunicorn_port("gthread"),
    "gunicorn_sync": lambda: gunicorn_port("sync"),
    "werkzeug": lambda: werkzeug_server(APP),
    "wsgiref": lambda: wsgiref_server(APP),
}


@pytest.fixture(params=list(SERVERS))
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    with SERVERS[request.param]() as running:
        yield running


def test_pipelined_first_frame_is_echoed_and_nothing_follows_the_close(port: int) -> None:
    with RawClient(port, protocols="xmpp", trailing=client_frame(TEXT, b"pipelined")) as raw:
        assert raw.status == 101, raw.head
        assert raw.header("Sec-WebSocket-Protocol") == "xmpp"
        assert raw.read_message().payload == b"pipelined"
        raw.send_frame(BINARY, b"\x00\x01")
        assert raw.read_message().payload == b"\x00\x01"
        assert raw.close_handshake().close_code == 1000  # then EOF with no bytes after the close


def test_independent_client_echoes_text_and_a_megabyte(port: int) -> None:
    with connect(f"ws://127.0.0.1:{port}/chat", max_size=None, open_timeout=WAIT) as client:
        client.send("hello")
        assert client.recv(timeout=WAIT) == "hello"
        payload = bytes(range(256)) * 4096
        client.send(payload)
        assert client.recv(timeout=WAIT) == payload


def test_plain_requests_go_to_the_fallback_application(port: int) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ws.html", timeout=WAIT) as response:
        assert response.status == 200


def test_waitress_cannot_upgrade_and_answers_501() -> None:
    pytest.importorskip("waitress")
    port = free_port()
    argv = [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "wsgi_app:application"]
    with Process(argv, name="waitress", cwd=str(EXAMPLES), ready_ports=[("127.0.0.1", port)]), \
            RawClient(port) as raw:
        assert raw.status == 501
        body = raw.read_exact(int(raw.header("Content-Length") or 0))
        assert b"cannot upgrade" in body


def test_wsgi_app_example_serves_echo_on_the_command_line_port() -> None:
    port = free_port()
    with Process([sys.executable, str(EXAMPLES / "wsgi_app.py"), str(port)], name="wsgi_app",
                 ready_ports=[("127.0.0.1", port)]), \
            RawClient(port, trailing=client_frame(TEXT, b"from the example")) as raw:
        assert raw.read_message().payload == b"from the example"
        raw.close_handshake()
