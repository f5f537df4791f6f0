"""permessage-deflate against independent peers over real loopback sockets.

Our http.server-based server with PermessageDeflate is driven by python ``websockets`` (deflate on
by default), node ``ws`` (perMessageDeflate) and the original node faye-websocket with
permessage-deflate; each test checks the negotiated header, an echo of text, binary and large
messages, and, through a byte-counting relay, that the payload really crossed compressed.
"""

from __future__ import annotations

import gc
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect as websockets_connect
from websockets.sync.server import serve as websockets_serve

from faye_websocket.client import connect
from faye_websocket.driver.base import DEFAULT_MAX_LENGTH
from faye_websocket.extensions import PermessageDeflate
from faye_websocket.server.http_server import WebSocketHTTPServer
from faye_websocket.server.websocket import WebSocket
from tests.integration.components import ResultCollector, run_chromium, run_node_client

DEADLINE = 10.0  # seconds; every wait in this module is bounded by it
# 1 KiB-ish JSON records, as an application would send them: compressible but not trivially
BIG_JSON = json.dumps(
    [{"id": n, "user": f"user{n % 97}", "tags": ["a", "b"], "score": n * 7 % 1000} for n in range(1500)]
)
BINARY = bytes(range(256)) * 40


class CountingRelay:
    """A one-connection TCP relay from 127.0.0.1:port to a target, counting bytes each way."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(DEADLINE)
        self.port = self.listener.getsockname()[1]
        self.counts = {"up": 0, "down": 0}
        self.sockets: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, name="relay-accept")]
        self.threads[0].start()

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=DEADLINE)
        self.sockets += [client, upstream]
        for source, sink, key in ((client, upstream, "up"), (upstream, client, "down")):
            thread = threading.Thread(target=self._pump, args=(source, sink, key), name=f"relay-{key}")
            self.threads.append(thread)
            thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket, key: str) -> None:
        try:
            while data := source.recv(65536):
                self.counts[key] += len(data)
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for thread in list(self.threads):
            thread.join(DEADLINE)
        for sock in self.sockets:
            sock.close()


class EchoHandler(BaseHTTPRequestHandler):
    """Upgrades every request with the server's extension options and echoes each message."""

    server: DeflateEchoServer

    def do_GET(self) -> None:
        if not WebSocket.is_websocket(self):
            self._serve_page()
            return
        extensions = [PermessageDeflate(**self.server.deflate_options)]
        ws = WebSocket.from_handler(self, extensions=extensions, max_length=self.server.max_length)
        ws.on("message", lambda event: ws.send(event.data))
        ws.run()

    def _serve_page(self) -> None:
        if self.path != "/page" or not self.server.page:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.server.page)))
        self.end_headers()
        self.wfile.write(self.server.page)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class DeflateEchoServer(WebSocketHTTPServer):
    deflate_options: dict[str, Any] = {}
    max_length = DEFAULT_MAX_LENGTH
    page = b""  # served at /page for the browser test


@pytest.fixture
def echo_server() -> Iterator[Callable[..., int]]:
    """Factory: echo_server(max_length=..., **deflate_options) -> port of a fresh echo server."""
    servers: list[tuple[DeflateEchoServer, threading.Thread]] = []

    def start(max_length: int = DEFAULT_MAX_LENGTH, page: bytes = b"", **options: Any) -> int:
        server = DeflateEchoServer(("127.0.0.1", 0), EchoHandler)
        server.deflate_options = options
        server.max_length = max_length
        server.page = page
        thread = threading.Thread(target=server.serve_forever, name="deflate-echo-server")
        thread.start()
        servers.append((server, thread))
        return int(server.server_address[1])

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)


@pytest.fixture
def relay() -> Iterator[Callable[[int], CountingRelay]]:
    relays: list[CountingRelay] = []

    def start(port: int) -> CountingRelay:
        relays.append(CountingRelay(port))
        return relays[-1]

    yield start
    for item in relays:
        item.close()


def echo_with_websockets(port: int, **offer: Any) -> str:
    """Connect python websockets' client, echo text and binary, return the negotiated header.

    ``offer``: ClientPerMessageDeflateFactory options; none means websockets' default offer.
    """
    options: dict[str, Any] = {}
    if offer:
        options = {"compression": None, "extensions": [ClientPerMessageDeflateFactory(**offer)]}
    with websockets_connect(
        f"ws://127.0.0.1:{port}/", open_timeout=DEADLINE, close_timeout=DEADLINE, max_size=None, **options
    ) as client:
        for message in ("Hello", "Hello", BIG_JSON, BINARY, ""):
            client.send(message)
            assert client.recv(timeout=DEADLINE) == message
        return str(client.response.headers["Sec-WebSocket-Extensions"])


def test_websockets_client_gets_compressed_echoes_from_our_server(
    no_leaks: None, echo_server: Callable[..., int], relay: Callable[[int], CountingRelay]
) -> None:
    link = relay(echo_server())
    header = echo_with_websockets(link.port)
    # websockets' sync client offers "permessage-deflate; client_max_window_bits"
    assert header == "permessage-deflate"
    payload = 2 * len(BIG_JSON) + len(BINARY)
    assert link.counts["down"] < payload / 3, link.counts  # our frames crossed compressed
    assert link.counts["up"] < payload / 3, link.counts


@pytest.mark.parametrize(
    ("options", "offer", "expected"),
    [
        ({"no_context_takeover": True}, {}, "permessage-deflate; server_no_context_takeover"),
        (
            {"request_no_context_takeover": True, "max_window_bits": 10, "request_max_window_bits": 9},
            {},
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=9",
        ),
        ({"threshold": 64}, {}, "permessage-deflate"),
        (
            {},
            {"server_max_window_bits": 12, "client_max_window_bits": 12},
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        ),
        (
            {"max_window_bits": 9},
            {"server_max_window_bits": 11, "server_no_context_takeover": True},
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9",
        ),
        (
            {"request_max_window_bits": 10},
            {"client_no_context_takeover": True},
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=10",
        ),
    ],
)
def test_websockets_client_and_our_server_agree_on_every_parameter(
    no_leaks: None,
    echo_server: Callable[..., int],
    options: dict[str, Any],
    offer: dict[str, Any],
    expected: str,
) -> None:
    assert echo_with_websockets(echo_server(**options), **offer) == expected


MESSAGES = ["hello", "h\u00e9llo \u2603", "hex:00010280ff", BIG_JSON]


@pytest.mark.component
@pytest.mark.parametrize("client", ["ws_client", "faye_client"])
def test_node_clients_get_compressed_echoes_from_our_server(
    no_leaks: None, echo_server: Callable[..., int], relay: Callable[[int], CountingRelay], client: str
) -> None:
    link = relay(echo_server())
    result = run_node_client(client, f"ws://127.0.0.1:{link.port}/", MESSAGES, timeout=DEADLINE)
    assert result.returncode == 0, result.output
    # both offer "permessage-deflate; client_max_window_bits": we answer with no parameters
    assert result.extensions == "permessage-deflate", result.output
    assert result.messages == ["hello", "h\u00e9llo \u2603", bytes.fromhex("00010280ff"), BIG_JSON]
    assert result.close == {"event": "close", "code": 1000, "reason": ""}
    assert link.counts["down"] < len(BIG_JSON) / 3, link.counts


BROWSER_PAGE = """<!doctype html><meta charset="utf-8"><script>
var big = JSON.stringify(Array.from({length: 1500}, function (_, n) {
  return {id: n, user: 'user' + (n % 97), tags: ['a', 'b'], score: n * 7 % 1000}; }));
var binary = new Uint8Array(10240).map(function (_, i) { return i % 256; });
var sent = ['Hello', 'Hello', big, '', binary];
var results = {echoes: []};
var ws = new WebSocket('ws://' + location.host + '/ws');
ws.binaryType = 'arraybuffer';
function report(extra) {
  for (var key in extra) results[key] = extra[key];
  fetch('COLLECTOR/result', {method: 'POST', body: JSON.stringify(results)});
}
ws.onopen = function () { results.extensions = ws.extensions; sent.forEach(function (m) { ws.send(m); }); };
ws.onmessage = function (event) {
  var expected = sent[results.echoes.length], data = event.data;
  if (typeof data === 'string') results.echoes.push(data === expected);
  else results.echoes.push(new Uint8Array(data).every(function (b, i) { return b === expected[i]; })
                           && data.byteLength === expected.length);
  if (results.echoes.length === sent.length) ws.close(1000);
};
ws.onclose = function (event) { report({code: event.code, clean: event.wasClean}); };
setTimeout(function () { report({timeout: true}); }, 15000);
</script>"""


@pytest.mark.component
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "permessage-deflate"),
        (
            {
                "no_context_takeover": True,
                "max_window_bits": 9,
                "request_max_window_bits": 9,
                "request_no_context_takeover": True,
            },
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "client_max_window_bits=9",
        ),
    ],
)
def test_chromium_exchanges_compressed_messages_with_our_server(
    echo_server: Callable[..., int], result_collector: ResultCollector, options: dict[str, Any], expected: str
) -> None:
    page = BROWSER_PAGE.replace("COLLECTOR", result_collector.url("")).encode()
    port = echo_server(page=page, **options)
    with run_chromium(f"http://127.0.0.1:{port}/page", timeout=30) as browser:
        result = result_collector.wait_result(browser.remaining(), context=browser.output())
    assert isinstance(result, dict) and "timeout" not in result, result
    assert result["extensions"] == expected
    assert result["echoes"] == [True] * 5
    assert (result["code"], result["clean"]) == (1000, True)


def test_a_message_inflating_past_max_length_closes_with_1009(
    no_leaks: None, echo_server: Callable[..., int]
) -> None:
    port = echo_server(max_length=2**20)
    with websockets_connect(
        f"ws://127.0.0.1:{port}/", open_timeout=DEADLINE, close_timeout=DEADLINE, max_size=None
    ) as client:
        client.send(bytes(16 * 2**20))  # 16 MiB of zeros: about 16 KB on the wire, under 1 MiB
        with pytest.raises(ConnectionClosedError):
            client.recv(timeout=DEADLINE)
        assert client.protocol.close_rcvd is not None
        assert client.protocol.close_rcvd.code == 1009


# -- our client ------------------------------------------------------------------------------------


@pytest.fixture
def websockets_echo_server() -> Iterator[int]:
    """python websockets' sync server (deflate on by default) echoing every message; its port."""

    def echo(connection: Any) -> None:
        for message in connection:
            connection.send(message)

    server = websockets_serve(echo, "127.0.0.1", 0, max_size=None)
    thread = threading.Thread(target=server.serve_forever, name="websockets-echo-server")
    thread.start()
    try:
        yield int(server.socket.getsockname()[1])
    finally:
        server.shutdown()
        thread.join(DEADLINE)
        # websockets' serve_forever never closes its epoll selector; it is freed with its frame's
        # reference cycle, so collect it here rather than report it as our leak.
        gc.collect()


def echo_with_our_client(url: str, **options: Any) -> str:
    """Connect our client with PermessageDeflate(**options), echo, return the negotiated header."""
    with connect(url, extensions=[PermessageDeflate(**options)], proxy=False, max_length=2**24) as client:
        for message in ("Hello", "Hello", BIG_JSON, BINARY, ""):
            assert client.send(message)
            assert client.recv(timeout=DEADLINE) == message
        return client.headers.get("sec-websocket-extensions", "")


def test_our_client_gets_compressed_echoes_from_the_websockets_server(
    no_leaks: None, websockets_echo_server: int, relay: Callable[[int], CountingRelay]
) -> None:
    link = relay(websockets_echo_server)
    header = echo_with_our_client(f"ws://127.0.0.1:{link.port}/")
    # websockets answers with 12-bit windows although we did not ask for server_max_window_bits
    assert header == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    payload = 2 * len(BIG_JSON) + len(BINARY)
    assert link.counts["up"] < payload / 3, link.counts
    assert link.counts["down"] < payload / 3, link.counts


@pytest.mark.parametrize("bits", range(8, 16))
def test_our_client_and_server_without_context_takeover_on_either_side_echo_at_every_window(
    no_leaks: None, echo_server: Callable[..., int], relay: Callable[[int], CountingRelay], bits: int
) -> None:
    # Each side compresses every message alone (RFC 7692 section 7.1.1) with idle compressors
    # reused between messages; each inflates every message with a new stream of the agreed window.
    link = relay(echo_server(no_context_takeover=True, max_window_bits=bits))
    header = echo_with_our_client(f"ws://127.0.0.1:{link.port}/", no_context_takeover=True,
                                  max_window_bits=bits, request_no_context_takeover=True,
                                  request_max_window_bits=bits)
    client_bits = f"; client_max_window_bits={bits}" if bits < 15 else ""  # 15 goes unsaid
    assert header == (f"permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                      f"server_max_window_bits={bits}{client_bits}")
    payload = 2 * len(BIG_JSON) + len(BINARY)
    assert link.counts["up"] < payload / 3, link.counts
    assert link.counts["down"] < payload / 3, link.counts


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"no_context_takeover": True, "max_window_bits": 10},
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=12; "
            "client_max_window_bits=10",
        ),
        (
            {"request_no_context_takeover": True, "request_max_window_bits": 9},
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; "
            "client_max_window_bits=12",
        ),
    ],
)
def test_our_client_options_are_honoured_by_the_websockets_server(
    no_leaks: None, websockets_echo_server: int, options: dict[str, Any], expected: str
) -> None:
    assert echo_with_our_client(f"ws://127.0.0.1:{websockets_echo_server}/", **options) == expected


@pytest.mark.component
@pytest.mark.parametrize("server", ["ws_echo_server", "faye_echo_server"])
def test_our_client_gets_compressed_echoes_from_node_servers(
    no_leaks: None, node_peer_server: Callable[[str], Any], relay: Callable[[int], CountingRelay], server: str
) -> None:
    peer = node_peer_server(server)
    link = relay(peer.port)
    # both answer our default offer with no parameters
    assert echo_with_our_client(f"ws://127.0.0.1:{link.port}/") == "permessage-deflate"
    assert link.counts["down"] < 2 * len(BIG_JSON) / 3, link.counts
