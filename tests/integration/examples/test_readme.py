"""Every ```python block of README.md runs, as written, against real servers on 127.0.0.1.

Each block is claimed by exactly one test (found by a marker string it contains), so a new block
without a test fails ``test_every_block_has_a_test``. What the test changes in a block is listed in
``SUBSTITUTIONS`` and nothing else: external hosts and fixed ports become the test's local ones
(each entry must occur in the block, so the table cannot go stale). Blocks that only define a
handler or an application are served by the test with the server the README names; a block that
blocks forever by design (``serve_forever()``) runs on a thread and its server is shut down by the
test. Blocks run with a deadline (``run_block``): a block that cannot finish is a README defect.
"""

from __future__ import annotations

import contextlib
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from faye_websocket import Client, EventSourceClient, PermessageDeflate, connect
from faye_websocket.cli.serve import EchoHandler, ServeServer
from faye_websocket.server.http_server import WebSocketHTTPServer
from faye_websocket.server.socketserver import ThreadingWebSocketServer
from tests.integration.components import ProxyServer
from tests.integration.examples.markdown_blocks import WAIT, Output, python_blocks, run_block
from tests.paths import REPO_ROOT

README = REPO_ROOT / "README.md"

# Marker (a string unique to the block) -> the block's name in this file.
MARKERS = {
    "EventSource.from_handler(self, ping=15, retry=10)": "server_side",
    "ThreadingWebSocketServer(": "socketserver",
    "websocket_app(on_connect": "wsgi",
    "ws = WebSocket.from_handler(self)\n": "recv_loop",
    "with connect(": "client",
    "EventSourceClient(": "eventsource_client",
    "reconnecting(": "reconnecting",
    # tests/integration/frameworks/test_readme_blocks.py runs these two under gunicorn
    "websocket_route(app,": "flask",
    "@websocket_view\n": "django",
}

# Block name -> (text in the README, replacement); {port} and {proxy} are filled in by the test.
SUBSTITUTIONS: dict[str, list[tuple[str, str]]] = {
    "socketserver": [('("127.0.0.1", 8000)', '("127.0.0.1", 0)')],
    "client": [
        ('"wss://example.com/"', '"ws://127.0.0.1:{port}/"'),  # the echo server has no public certificate
        ('"ws://127.0.0.1:8000/"', '"ws://127.0.0.1:{port}/"'),
        ('"http://user:pass@proxy:3128"', '"{proxy}"'),  # tinyproxy with the test's credentials
    ],
    "eventsource_client": [('"https://example.com/events"', '"http://127.0.0.1:{port}/events"')],
    "reconnecting": [('"ws://127.0.0.1:8000/"', '"ws://127.0.0.1:{port}/"')],
}


def readme_blocks() -> list[str]:
    """The README's ```python blocks, in order."""
    return python_blocks(README)


def block(name: str, **values: object) -> str:
    """The block called ``name`` with its substitutions applied (each must occur exactly once)."""
    (source,) = [b for b in readme_blocks() if MARKERS[_marker_of(b)] == name]
    for old, new in SUBSTITUTIONS.get(name, []):
        assert source.count(old) == 1, f"README block {name!r} no longer contains {old!r}"
        source = source.replace(old, new.format(**values))
    return source


def _marker_of(source: str) -> str:
    found = [marker for marker in MARKERS if marker in source]
    assert len(found) == 1, f"a README block matches markers {found}:\n{source}"
    return found[0]


@pytest.fixture(autouse=True)
def _direct_connections(no_proxy_environment: None) -> None:
    """The blocks' clients read proxies from the environment: the local servers are reached directly."""


@pytest.fixture
def output() -> Output:
    """Where the blocks' ``print`` writes (also from listener threads)."""
    return Output()


@contextlib.contextmanager
def serving(server: Any) -> Iterator[int]:
    """Run ``server.serve_forever`` on a thread; shut it down and close it afterwards."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="readme-server"
    )
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


class Quiet:
    """Mixin: no access log on stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_every_block_has_a_test() -> None:
    blocks = readme_blocks()
    assert sorted(MARKERS[_marker_of(b)] for b in blocks) == sorted(MARKERS.values())


def test_server_side_handler_echoes_and_streams(no_leaks: None, output: Output) -> None:
    namespace = run_block(block("server_side"), output)
    handler = type("Handler", (Quiet, namespace["Handler"]), {})
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as port:
        with connect(f"ws://127.0.0.1:{port}/", ["xmpp"], extensions=[PermessageDeflate()]) as ws:
            assert ws.protocol == "xmpp"
            assert "permessage-deflate" in ws.headers.get("sec-websocket-extensions", "")
            ws.send("echo me")
            assert ws.recv(timeout=WAIT) == "echo me"
            ws.send(b"\x00\x01")
            assert ws.recv(timeout=WAIT) == b"\x00\x01"
        output.wait_for("close 1000")
        with EventSourceClient(f"http://127.0.0.1:{port}/", reconnect=False, read_timeout=WAIT) as events:
            received = []
            for event in events:
                received.append((event.data, event.last_event_id))
                if len(received) == 2:
                    break
        assert received == [("tick 0", "0"), ("tick 1", "1")]
        # The handler's loop ends on its own: send() returns False once the client has gone
        # (no_leaks waits for its thread).


def test_socketserver_block_serves_until_shutdown(
    no_leaks: None, output: Output, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()
    servers: list[ThreadingWebSocketServer] = []
    serve_forever = ThreadingWebSocketServer.serve_forever

    def observed(self: ThreadingWebSocketServer, poll_interval: float = 0.5) -> None:
        servers.append(self)
        started.set()
        serve_forever(self, poll_interval=0.05)

    monkeypatch.setattr(ThreadingWebSocketServer, "serve_forever", observed)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_block(block("socketserver"), output, timeout=60.0)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, name="readme-socketserver")
    thread.start()
    try:
        assert started.wait(WAIT), "serve_forever() was not called"
        port = servers[0].server_address[1]
        with connect(f"ws://127.0.0.1:{port}/", ["irc"]) as ws:
            assert ws.protocol == "irc"
            ws.send("over raw socketserver")
            assert ws.recv(timeout=WAIT) == "over raw socketserver"
    finally:
        if servers:
            servers[0].shutdown()
            servers[0].server_close()
        thread.join(WAIT)
    assert not thread.is_alive()
    assert not errors, errors


class _QuietWSGIHandler(Quiet, WSGIRequestHandler):
    pass


def test_wsgi_block_takes_over_from_wsgiref_and_falls_back(no_leaks: None) -> None:
    namespace = run_block(block("wsgi"))
    server = make_server("127.0.0.1", 0, namespace["application"], handler_class=_QuietWSGIHandler)
    with serving(server) as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=WAIT) as response:
            assert response.read() == b"hello"
        with connect(f"ws://127.0.0.1:{port}/", ["irc"]) as ws:
            assert ws.protocol == "irc"
            ws.send("via WSGI")
            assert ws.recv(timeout=WAIT) == "via WSGI"


def test_recv_loop_handler_echoes(no_leaks: None) -> None:
    namespace = run_block(block("recv_loop"))
    handler = type("Handler", (Quiet, namespace["Handler"]), {})
    with (
        serving(WebSocketHTTPServer(("127.0.0.1", 0), handler)) as port,
        connect(f"ws://127.0.0.1:{port}/") as ws,
    ):
        for message in ("one", b"two", "three"):
            ws.send(message)
        assert [ws.recv(timeout=WAIT) for _ in range(3)] == ["one", b"two", "three"]


class _QuietEcho(Quiet, EchoHandler):
    pass


@pytest.mark.component
def test_client_block_through_a_real_proxy(
    no_leaks: None, output: Output, tinyproxy_proxy: ProxyServer
) -> None:
    with serving(ServeServer(("127.0.0.1", 0), _QuietEcho)) as port:
        namespace = run_block(block("client", port=port, proxy=tinyproxy_proxy.url()), output)
        printed = output.wait_for("message Hello, world!")
        # the connect() block printed: the echo, the 101's status and headers
        assert "mic check 101 {" in printed
        client: Client = namespace["client"]
        assert client.protocol == "irc"
        client.close()
        assert client.wait_closed(WAIT)
        output.wait_for("close 1000")
        # the first client's onopen sent its greeting on its own connection, not the with block's
        assert output.getvalue().count("Hello, world!") == 1


def test_reconnecting_block_sends_every_message_until_acknowledged(no_leaks: None, output: Output) -> None:
    with serving(WebSocketHTTPServer(("127.0.0.1", 0), _QuietEcho)) as port:
        run_block(block("reconnecting", port=port), output)
    assert output.getvalue().splitlines() == ["acknowledged one", "acknowledged two", "acknowledged three"]


class _EventStream(Quiet, BaseHTTPRequestHandler):
    """Two events with ids, then a dropped connection; the reconnection gets 204 ("stop")."""

    protocol_version = "HTTP/1.1"
    reconnections: list[str | None] = []

    def do_GET(self) -> None:
        if self.headers.get("Last-Event-ID") is None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"retry: 20\n\nid: 1\ndata: one\n\nevent: note\nid: 2\ndata: two\n\n")
        else:
            self.reconnections.append(self.headers.get("Last-Event-ID"))
            self.send_response(204)
            self.send_header("Connection", "close")
            self.end_headers()
        self.close_connection = True


def test_eventsource_client_block_reconnects_with_last_event_id(no_leaks: None, output: Output) -> None:
    _EventStream.reconnections = []
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _EventStream)) as port:
        run_block(block("eventsource_client", port=port), output)
    assert output.getvalue().splitlines() == ["message one 1", "note two 2", "refused 204"]
    assert _EventStream.reconnections == ["2"]


def test_websocket_http_server_close_ends_the_server_blocks_live_connections(
    no_leaks: None, output: Output
) -> None:
    """The README: WebSocketHTTPServer's server_close() closes live WebSockets with 1001 and ends
    live event streams instead of hanging."""
    namespace = run_block(block("server_side"), output)
    handler = type("Handler", (Quiet, namespace["Handler"]), {})
    server = WebSocketHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="readme-server"
    )
    thread.start()
    port = server.server_address[1]
    closed = threading.Event()
    codes: list[int] = []

    def on_close(event: Any) -> None:
        codes.append(event.code)
        closed.set()

    opened = threading.Event()
    client = Client(f"ws://127.0.0.1:{port}/", ["irc"], onopen=lambda event: opened.set(), onclose=on_close)
    events = EventSourceClient(f"http://127.0.0.1:{port}/", reconnect=False, read_timeout=WAIT)
    received: list[str] = []
    first = threading.Event()

    def read() -> None:
        for event in events:
            received.append(event.data)
            first.set()

    reader = threading.Thread(target=read, name="readme-events")
    reader.start()
    try:
        assert first.wait(WAIT), "no event from the stream"
        assert opened.wait(WAIT), "the client did not open"
        server.shutdown()
        server.server_close()
        thread.join(WAIT)
        assert not thread.is_alive()
        assert closed.wait(WAIT), "the client saw no close event"
        assert codes == [1001]
        output.wait_for("close 1001")
        reader.join(WAIT)
        assert not reader.is_alive(), "the event stream did not end"
        assert received[0] == "tick 0"
    finally:
        events.close()
        client.close()
        client.wait_closed(WAIT)
        reader.join(WAIT)
