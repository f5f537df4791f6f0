"""The public API of the server-side WebSocket: listeners, options, detection, socket tuning."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from faye_websocket.driver.http import Headers, Request
from faye_websocket.server.websocket import WebSocket
from tests.integration.components import run_node_client
from tests.integration.server.test_drafts import KEY3, draft76_head
from tests.integration.server_support import (
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    client_frame,
)


def test_once_listener_runs_for_the_first_event_only_and_off_removes_a_listener() -> None:
    calls: dict[str, list[Any]] = {"once": [], "removed": [], "attribute_first": []}

    def setup(ws: WebSocket) -> None:
        ws.onmessage = lambda event: calls["attribute_first"].append("attr")
        ws.on("message", lambda event: calls["attribute_first"].append("listener"))
        ws.once("message", lambda event: calls["once"].append(event.data))
        removed = calls["removed"].append
        ws.on("message", removed)
        ws.off("message", removed)
        ws.on("message", lambda event: ws.send(event.data))

    with HTTPServerThread(setup) as server, RawClient(server.port) as raw:
        raw.send(client_frame(TEXT, b"1") + client_frame(TEXT, b"2"))
        raw.read_message()
        raw.read_message()
    assert calls["once"] == ["1"]
    assert calls["removed"] == []
    assert calls["attribute_first"] == ["attr", "listener", "attr", "listener"]


def test_unknown_event_types_and_options_are_refused() -> None:
    left, right = socket.socketpair()
    try:
        with pytest.raises(TypeError):
            WebSocket(None, left, maxLength=10)  # type: ignore[call-arg]
        with pytest.raises(ValueError):
            WebSocket(None, left, ping=-1)
    finally:
        left.close()
        right.close()


def test_on_with_an_unknown_event_type_is_a_value_error() -> None:
    with HTTPServerThread(lambda ws: None) as server, RawClient(server.port):
        ws = server.recorded.wait_socket()
        with pytest.raises(ValueError):
            ws.on("mesage", print)


def test_is_websocket_accepts_a_request_a_handler_and_a_wsgi_environ() -> None:
    headers = Headers([("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade")])
    assert WebSocket.is_websocket(Request("GET", "/", headers))
    assert not WebSocket.is_websocket(Request("POST", "/", headers))
    environ = {"REQUEST_METHOD": "GET", "HTTP_UPGRADE": "WebSocket", "HTTP_CONNECTION": "Upgrade"}
    assert WebSocket.is_websocket(environ)
    assert not WebSocket.is_websocket({"REQUEST_METHOD": "GET"})

    seen: list[bool] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(WebSocket.is_websocket(self))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with RawClient(server.server_address[1]) as raw:
            assert raw.status == 204
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)
    assert seen == [True]


def test_accepted_sockets_have_nagle_turned_off() -> None:
    with HTTPServerThread(lambda ws: None) as server, RawClient(server.port):
        ws = server.recorded.wait_socket()
        sock = ws.connection._transport.sock  # type: ignore[union-attr]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_ping_on_a_hixie_connection_returns_false_and_big_pings_are_value_errors() -> None:
    with HTTPServerThread(lambda ws: None, allow_drafts=True) as server, \
            RawClient(server.port, request=draft76_head(), trailing=KEY3):
        server.recorded.wait_for("open")
        ws = server.recorded.wait_socket()
        assert ws.ping(b"hello") is False
        with pytest.raises(ValueError):
            ws.ping(b"x" * 126)


def test_node_faye_websocket_client_the_reference_implementation_gets_its_echo() -> None:
    from faye_websocket.extensions.permessage_deflate import PermessageDeflate

    with HTTPServerThread(extensions=[PermessageDeflate()]) as server:
        result = run_node_client("faye_client", server.url(), ["hello", "hex:0001ff", "y" * 70000],
                                 timeout=20)
    assert result.returncode == 0, result.output
    messages = [event for event in result.events if event["event"] == "message"]
    assert len(messages) == 3, result.output


def test_url_is_wss_behind_a_proxy_that_says_the_client_used_tls() -> None:
    with HTTPServerThread(lambda ws: None) as server, \
            RawClient(server.port, path="/feed?x=1", extra=(("X-Forwarded-Proto", "https"),)):
        assert server.recorded.wait_socket().url == "wss://127.0.0.1/feed?x=1"


def test_socketserver_handler_send_in_setup_websocket_reaches_the_client() -> None:
    from faye_websocket import Client
    from faye_websocket.server.socketserver import ThreadingWebSocketServer, WebSocketRequestHandler

    sent: list[bool] = []

    class Greeter(WebSocketRequestHandler):
        def setup_websocket(self, websocket):  # type: ignore[no-untyped-def]
            sent.append(websocket.send("welcome"))

    server = ThreadingWebSocketServer(("127.0.0.1", 0), Greeter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = Client(f"ws://127.0.0.1:{server.server_address[1]}/")
        try:
            assert client.recv(timeout=5) == "welcome"
        finally:
            client.close()
        assert sent == [True]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
