"""WSGI takeover on real WSGI servers: gunicorn (gthread and sync), werkzeug, wsgiref; waitress
cannot upgrade and must answer 501.

Each upgrade test pipelines the first frame behind the request head (the server has then already
read it into its own buffer), and checks that after the closing handshake the server writes
nothing more on the connection (no stray ``HTTP/1.1 200``).
"""

from __future__ import annotations

import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from websockets.sync.client import connect

from faye_websocket.server.websocket import WebSocket
from faye_websocket.server.wsgi import websocket_app
from tests.integration.components import Process, free_port
from tests.integration.server_support import BINARY, TEXT, WAIT, RawClient, client_frame
from tests.paths import EXAMPLES

WORKER_START = 60.0  # seconds a gunicorn worker may take to import the app on a loaded machine


def echo(ws: WebSocket) -> None:
    ws.on("message", lambda event: ws.send(event.data))
    ws.run()


def fallback(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"plain"]


APP = websocket_app(echo, ["irc", "xmpp"], fallback=fallback)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextmanager
def in_thread(server: Any) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="wsgi-server")
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


@contextmanager
def werkzeug_server() -> Iterator[int]:
    from werkzeug.serving import make_server as make_werkzeug

    with in_thread(make_werkzeug("127.0.0.1", 0, APP, threaded=True)) as port:
        yield port


@contextmanager
def wsgiref_server() -> Iterator[int]:
    server = make_server("127.0.0.1", 0, APP, server_class=ThreadingWSGIServer, handler_class=_QuietHandler)
    with in_thread(server) as port:
        yield port


@contextmanager
def gunicorn_server(worker: str) -> Iterator[int]:
    port = free_port()
    threads = "4" if worker == "gthread" else "1"  # gunicorn runs "sync" with threads as gthread
    argv = [sys.executable, "-m", "gunicorn", "-k", worker, "--threads", threads, "-w", "1",
            "-b", f"127.0.0.1:{port}", "--chdir", str(EXAMPLES), "wsgi_app:application"]
    with Process(argv, name=f"gunicorn-{worker}", ready_ports=[("127.0.0.1", port)]):
        # The master listens before the worker has imported the app: one plain request, allowed
        # the whole start-up, so that the tests' own (shorter) waits start from a ready worker.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ws.html", timeout=WORKER_START) as page:
            page.read()
        yield port


SERVERS = {
    "gunicorn_gthread": lambda: gunicorn_server("gthread"),
    "gunicorn_sync": lambda: gunicorn_server("sync"),
    "werkzeug": werkzeug_server,
    "wsgiref": wsgiref_server,
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
