"""Our client against independent servers doing legal (or common) things a client must cope with.

Node ``ws`` with every permessage-deflate answer it can give (server_max_window_bits 8..15,
client_max_window_bits, no context takeover), fragmented messages, pings with payloads, close
codes with reasons and TCP dropped without a close frame; python ``websockets`` choosing a
subprotocol, adding cookies and refusing with a 401 or 302 that has a body, with keepalive pings;
nginx and haproxy terminating TLS in front of ``websockets``; the original node faye-websocket
server pinging, and its EventSource read through nginx. Every wait is bounded; ports are dynamic.
"""

from __future__ import annotations

import base64
import gc
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from websockets.datastructures import Headers as WSHeaders
from websockets.http11 import Request as WSRequest
from websockets.http11 import Response as WSResponse
from websockets.sync.server import ServerConnection, serve
from websockets.typing import Subprotocol

from faye_websocket.client import Client, connect
from faye_websocket.driver.client import ClientDriver
from faye_websocket.errors import ConnectionClosed, HandshakeError
from faye_websocket.events import Event
from faye_websocket.eventsource.client import EventSourceClient
from faye_websocket.eventsource.parser import request_head
from faye_websocket.extensions import PermessageDeflate
from tests.integration.client_support import (
    frame,
    raw_server,
    read_request,
    serve_until_close,
    switching_protocols,
)
from tests.integration.components import (
    Process,
    ReverseProxy,
    TLSCerts,
    assert_no_leaks,
    require,
    require_executable,
)
from tests.integration.components.node import PEERS_DIR

WAIT = 10.0  # seconds; the longest any single step below may take

# One node process serves every case: /?opts=<JSON> picks the ws server options (a WebSocketServer
# per distinct JSON, in noServer mode) and what the server does once connected ("mode").
WS_SCRIPT = r"""
'use strict';
const http = require('http');
const url = require('url');
const { WebSocketServer } = require('ws');
const servers = new Map();
const web = http.createServer((req, res) => { res.writeHead(404); res.end(); });
web.on('upgrade', (req, socket, head) => {
  const raw = url.parse(req.url, true).query.opts || '{}';
  const opts = JSON.parse(raw);
  if (!servers.has(raw)) {
    servers.set(raw, new WebSocketServer(Object.assign({ noServer: true }, opts.server || {})));
  }
  const wss = servers.get(raw);
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => {});
    ws.on('pong', (data) => ws.send('pong:' + data.toString()));
    const mode = opts.mode || 'echo';
    if (mode === 'fragments') {
      ws.send('frag', { fin: false, compress: opts.compress });
      ws.send('mented ', { fin: false, compress: opts.compress });
      ws.send('x'.repeat(3000), { fin: true, compress: opts.compress });
    } else if (mode === 'ping') {
      ws.ping('payload-123');
    } else if (mode === 'close') {
      ws.close(opts.code, opts.reason);
    } else if (mode === 'drop') {
      ws.send('last words', () => ws._socket.destroy());
    }
    ws.on('message', (data, isBinary) => {
      if (mode === 'echo') ws.send(data, { binary: isBinary });
    });
  });
});
web.listen(0, '127.0.0.1', () => console.log('listening ' + web.address().port));
process.on('SIGTERM', () => process.exit(0));
"""

# The original faye-websocket as a server that pings every 0.2 s, closes with 4000 on "bye", and an
# EventSource that pings every 0.2 s and sends an event every 0.7 s.
FAYE_SCRIPT = r"""
'use strict';
const http = require('http');
const WebSocket = require('faye-websocket');
const deflate = require('permessage-deflate');
const server = http.createServer();
server.on('upgrade', (request, socket, body) => {
  const ws = new WebSocket(request, socket, body, ['chat'], { extensions: [deflate], ping: 0.2 });
  ws.on('message', (e) => { if (e.data === 'bye') ws.close(4000, 'bye bye'); else ws.send(e.data); });
});
server.on('request', (request, response) => {
  if (!WebSocket.EventSource.isEventSource(request)) { response.writeHead(404); return response.end(); }
  const es = new WebSocket.EventSource(request, response, { retry: 0.2, ping: 0.2 });
  let n = parseInt(es.lastEventId, 10) || 0;
  const timer = setInterval(() => { n += 1; es.send('tick ' + n, { id: String(n) }); }, 700);
  es.on('close', () => clearInterval(timer));
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
"""

BIG = "interop " * 4000  # 32 KB, compresses well
BINARY = bytes(range(256)) * 64


def _node_server(tmp_path: Path, name: str, source: str) -> Iterator[int]:
    node = require_executable("node")
    require((PEERS_DIR / "node_modules" / "ws").is_dir(), f"node peers not installed in {PEERS_DIR}")
    script = tmp_path / f"{name}.js"
    script.write_text(source)
    env = dict(os.environ, NODE_PATH=str(PEERS_DIR / "node_modules"))
    with Process([node, str(script)], name=name, env=env, ready_line=r"listening (\d+)") as process:
        assert process.ready_match is not None
        yield int(process.ready_match.group(1))


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., str]]:
    """Factory: ws_server(**opts) -> the ws:// URL asking the node ws server for those options."""
    ports = _node_server(tmp_path_factory.mktemp("ws"), "ws_interop", WS_SCRIPT)
    port = next(ports)

    def url(**opts: Any) -> str:
        return f"ws://127.0.0.1:{port}/?opts={quote(json.dumps(opts, sort_keys=True))}"

    yield url
    next(ports, None)  # stops the server


@pytest.fixture(scope="module")
def faye_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of the original faye-websocket server (WebSocket and EventSource, both pinging)."""
    yield from _node_server(tmp_path_factory.mktemp("faye"), "faye_interop", FAYE_SCRIPT)


class Recorder:
    """Handlers for Client(...) that record every event; ``closed`` is set by the close event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.closed = threading.Event()

    def handlers(self) -> dict[str, Any]:
        def record(name: str) -> Callable[[Event], None]:
            def handler(event: Event) -> None:
                detail: Any = None
                if name == "message":
                    detail = getattr(event, "data", None)
                elif name == "close":
                    detail = (getattr(event, "code", None), getattr(event, "reason", None),
                              getattr(event, "was_clean", None))  # fmt: skip
                self.events.append((name, detail))
                if name == "close":
                    self.closed.set()

            return handler

        return {f"on{name}": record(name) for name in ("open", "message", "error", "close")}


def _echo(client: Client, message: str | bytes) -> None:
    client.send(message)
    assert client.recv(timeout=WAIT) == message


# -- node ws ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(8, 16))
def test_every_server_max_window_bits_answer_of_node_ws(ws_server: Callable[..., str], bits: int) -> None:
    url = ws_server(server={"perMessageDeflate": {"serverMaxWindowBits": bits, "threshold": 0}})
    with assert_no_leaks(), connect(url, extensions=[PermessageDeflate()]) as client:
        answer = client.headers["sec-websocket-extensions"]
        assert answer == f"permessage-deflate; server_max_window_bits={bits}"
        for message in (BIG, BINARY, "short", BIG[::-1]):
            _echo(client, message)


@pytest.mark.parametrize("answer", [8, 9, 12, 15, True])
def test_client_max_window_bits_answers_of_node_ws(ws_server: Callable[..., str], answer: int | bool) -> None:
    url = ws_server(server={"perMessageDeflate": {"clientMaxWindowBits": answer, "threshold": 0}})
    with assert_no_leaks(), connect(url, extensions=[PermessageDeflate()]) as client:
        expected = "permessage-deflate" + ("" if answer is True else f"; client_max_window_bits={answer}")
        assert client.headers["sec-websocket-extensions"] == expected
        for message in (BIG, BINARY, BIG[::-1], BIG):  # later messages reuse our compressor's window
            _echo(client, message)


@pytest.mark.parametrize(
    "ours",
    [
        {},
        {"max_window_bits": 8},
        {"request_max_window_bits": 8},
        {"no_context_takeover": True, "request_no_context_takeover": True},
    ],
)
def test_no_context_takeover_and_small_windows_with_node_ws(
    ws_server: Callable[..., str], ours: dict[str, Any]
) -> None:
    # Without options of ours, the server imposes no context takeover both ways. (ws told
    # "serverNoContextTakeover": false refuses an offer asking for it with a 400, so it is left out.)
    imposed = {} if ours else {"serverNoContextTakeover": True, "clientNoContextTakeover": True}
    url = ws_server(server={"perMessageDeflate": {**imposed, "threshold": 0}})
    with assert_no_leaks(), connect(url, extensions=[PermessageDeflate(**ours)]) as client:
        assert client.headers["sec-websocket-extensions"].startswith("permessage-deflate")
        for message in (BIG, BIG, BINARY, "short"):
            _echo(client, message)


@pytest.mark.parametrize("compress", [False, True])
def test_fragmented_message_from_node_ws_arrives_whole(ws_server: Callable[..., str], compress: bool) -> None:
    url = ws_server(mode="fragments", compress=compress, server={"perMessageDeflate": {"threshold": 0}})
    with assert_no_leaks(), connect(url, extensions=[PermessageDeflate()]) as client:
        assert client.recv(timeout=WAIT) == "fragmented " + "x" * 3000


def test_a_ping_with_a_payload_is_answered_with_that_payload(ws_server: Callable[..., str]) -> None:
    with assert_no_leaks(), connect(ws_server(mode="ping")) as client:
        assert client.recv(timeout=WAIT) == "pong:payload-123"  # the server reports the pong it got


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1001, "going away"), (1011, "internal error"), (4001, "custom \u00e9"), (4999, ""), (None, None)],
)
def test_server_close_codes_and_reasons_reach_the_close_event(
    ws_server: Callable[..., str], code: int | None, reason: str | None
) -> None:
    opts: dict[str, Any] = {"mode": "close"}
    if code is not None:
        opts.update(code=code, reason=reason)
    recorder = Recorder()
    with assert_no_leaks():
        client = Client(ws_server(**opts), **recorder.handlers())
        assert recorder.closed.wait(WAIT)
        assert client.wait_closed(WAIT)
    # No status in the close frame reads as 1005 (RFC 6455 section 7.1.5), cleanly closed.
    assert recorder.events == [("open", None), ("close", (code or 1005, reason or "", True))]


def test_tcp_dropped_without_a_close_frame_is_1006_after_the_last_message(
    ws_server: Callable[..., str],
) -> None:
    recorder = Recorder()
    with assert_no_leaks():
        client = Client(ws_server(mode="drop"), **recorder.handlers())
        assert recorder.closed.wait(WAIT)
        assert client.wait_closed(WAIT)
    assert recorder.events == [("open", None), ("message", "last words"), ("close", (1006, "", False))]


# -- python websockets --------------------------------------------------------------------------

COOKIES = ["session=abc; Path=/; HttpOnly", "prefs=dark; Expires=Wed, 21 Oct 2037 07:28:00 GMT"]
FRAME_LIKE_BODY = b"\x81\x05hello\x88\x02\x03\xe8"  # a text frame and a close frame, as a body


def _process_request(connection: ServerConnection, request: WSRequest) -> WSResponse | None:
    refusals = {
        "/401": (401, "Unauthorized", [("WWW-Authenticate", 'Basic realm="interop"')]),
        "/302": (302, "Found", [("Location", "ws://127.0.0.1:1/elsewhere")]),
    }
    if request.path not in refusals:
        return None
    status, reason, fields = refusals[request.path]
    headers = WSHeaders([*fields, ("Content-Length", str(len(FRAME_LIKE_BODY))),
                         ("Set-Cookie", COOKIES[0]), ("Set-Cookie", COOKIES[1])])  # fmt: skip
    return WSResponse(status, reason, headers, FRAME_LIKE_BODY)


def _process_response(connection: ServerConnection, request: WSRequest, response: WSResponse) -> None:
    if response.status_code == 101:  # the refusals already carry theirs
        for cookie in COOKIES:
            response.headers["Set-Cookie"] = cookie  # adds a field line each time


def _select(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    return Subprotocol("chat.v2") if "chat.v2" in offered else None


def _echo_handler(connection: ServerConnection) -> None:
    for message in connection:
        if message == "close4000":
            connection.close(4000, "bye now")
            return
        connection.send(message)


def _websockets_server(**options: Any) -> Any:
    return serve(_echo_handler, "127.0.0.1", 0, process_request=_process_request,
                 process_response=_process_response, select_subprotocol=_select, **options)  # fmt: skip


@pytest.fixture
def websockets_url() -> Iterator[str]:
    """A websockets server pinging every 0.2 s, with deflate, cookies, subprotocols and refusals."""
    with _websockets_server(ping_interval=0.2, ping_timeout=2.0) as server:
        thread = threading.Thread(target=server.serve_forever, name="websockets-interop")
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        finally:
            server.shutdown()
            thread.join(WAIT)
    gc.collect()  # websockets leaves an epoll selector to the garbage collector


def test_websockets_subprotocol_cookies_deflate_and_keepalive(no_leaks: None, websockets_url: str) -> None:
    with connect(websockets_url + "/", ["chat.v1", "chat.v2"], extensions=[PermessageDeflate()]) as client:
        assert client.protocol == "chat.v2"
        assert client.headers["sec-websocket-extensions"].startswith("permessage-deflate")
        # Joined, the Expires date's comma makes the cookies unsplittable; each line is kept apart.
        assert [v for n, v in client.raw_headers if n.lower() == "set-cookie"] == COOKIES
        _echo(client, BIG)
        time.sleep(0.7)  # the server pings (and would drop us after 2 s without our pongs)
        _echo(client, "still here")
        client.send("close4000")
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=WAIT)
        assert (closed.value.code, closed.value.reason) == (4000, "bye now")


def test_websockets_without_a_matching_subprotocol_answers_none(no_leaks: None, websockets_url: str) -> None:
    with connect(websockets_url + "/", ["chat.v1"]) as client:
        assert client.protocol == ""
        _echo(client, "plain")


@pytest.mark.parametrize(
    ("path", "status", "field"), [("/401", 401, "www-authenticate"), ("/302", 302, "location")]
)
def test_a_refusal_with_a_body_keeps_status_and_headers_and_never_reads_the_body_as_frames(
    no_leaks: None, websockets_url: str, path: str, status: int, field: str
) -> None:
    with pytest.raises(HandshakeError) as refused:
        connect(websockets_url + path)
    assert refused.value.status == status and field in (refused.value.headers or {})
    recorder = Recorder()
    client = Client(websockets_url + path, **recorder.handlers())
    assert recorder.closed.wait(WAIT) and client.wait_closed(WAIT)
    assert [name for name, _ in recorder.events] == ["error", "close"]  # no message from the body
    assert recorder.events[-1][1][0] == 1002
    assert client.status_code == status and field in client.headers
    assert [v for n, v in client.raw_headers if n.lower() == "set-cookie"] == COOKIES


@pytest.mark.parametrize("kind", ["nginx", "haproxy"])
def test_wss_through_a_tls_terminating_reverse_proxy_to_websockets(
    kind: str,
    nginx_proxy: Callable[[int], ReverseProxy],
    haproxy_proxy: Callable[[int], ReverseProxy],
    tls_certs: TLSCerts,
) -> None:
    with _websockets_server(ping_interval=0.2, ping_timeout=2.0, compression="deflate") as server:
        thread = threading.Thread(target=server.serve_forever, name="websockets-behind-proxy")
        thread.start()
        try:
            proxy = (nginx_proxy if kind == "nginx" else haproxy_proxy)(server.socket.getsockname()[1])
            url = proxy.url("/chat?room=1", scheme="wss")
            with assert_no_leaks(), connect(url, ["chat.v2"], extensions=[PermessageDeflate()],
                                            tls=tls_certs.client_context()) as client:  # fmt: skip
                assert client.protocol == "chat.v2"
                assert client.headers["sec-websocket-extensions"].startswith("permessage-deflate")
                _echo(client, BIG * 4)
                _echo(client, BINARY)
                time.sleep(0.5)  # keepalive pings cross the proxy and are answered
                client.send("close4000")
                with pytest.raises(ConnectionClosed) as closed:
                    client.recv(timeout=WAIT)
                assert (closed.value.code, closed.value.reason) == (4000, "bye now")
        finally:
            server.shutdown()
            thread.join(WAIT)
    gc.collect()  # websockets leaves an epoll selector to the garbage collector


# -- the original faye-websocket ----------------------------------------------------------------


def test_faye_server_pinging_every_fifth_of_a_second(faye_server: int) -> None:
    url = f"ws://127.0.0.1:{faye_server}/"
    with assert_no_leaks(), connect(url, ["chat"], extensions=[PermessageDeflate()], ping=0.3,
                                    pong_timeout=2.0) as client:  # fmt: skip
        assert client.protocol == "chat"
        time.sleep(0.8)  # both sides ping; each answers the other
        _echo(client, BIG)
        client.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=WAIT)
        assert (closed.value.code, closed.value.reason) == (4000, "bye bye")


@pytest.mark.parametrize("through", ["direct", "nginx"])
def test_faye_event_source_pings_keep_a_short_read_timeout_alive(
    faye_server: int, nginx_proxy: Callable[[int], ReverseProxy], through: str
) -> None:
    # Events come every 0.7 s, pings every 0.2 s: a 0.5 s read timeout holds only thanks to the pings.
    if through == "direct":
        url = f"http://127.0.0.1:{faye_server}/events"
    else:
        url = nginx_proxy(faye_server).url("/events")
    errors: list[str] = []
    with assert_no_leaks():
        reader = EventSourceClient(url, read_timeout=0.5, connect_timeout=WAIT)
        reader.on("error", lambda event: errors.append(event.message))
        got = []
        watchdog = threading.Timer(WAIT, reader.close)
        watchdog.start()
        try:
            for event in reader:
                got.append((event.data, event.last_event_id))
                if len(got) == 3:
                    reader.close()
        finally:
            watchdog.cancel()
            watchdog.join(WAIT)
    assert got == [("tick 1", "1"), ("tick 2", "2"), ("tick 3", "3")]
    assert errors == []
    assert reader.raw_headers and dict((n.lower(), v) for n, v in reader.raw_headers) == reader.headers


# -- request head -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("ws://example.com:80/", "example.com"),
        ("wss://example.com:443/", "example.com"),
        ("http://[::1]:80/", "[::1]"),
        ("ws://example.com:443/", "example.com:443"),
        ("wss://example.com:80/", "example.com:80"),
    ],
)
def test_host_names_the_port_only_when_it_is_not_the_schemes_default(url: str, host: str) -> None:
    # RFC 6455 section 4.1 item 4; what browsers send, and what virtual hosts match on.
    head = ClientDriver(url).request_head().decode("latin-1")
    assert f"\r\nHost: {host}\r\n" in head


# -- EventSource redirects and credentials ------------------------------------------------------


def _stream_or_redirect(location: str | None, seen: list[dict[str, str]]) -> Callable[[socket.socket], None]:
    """A raw HTTP handler: records the request's fields, then redirects or sends one event and ends."""

    def handle(conn: socket.socket) -> None:
        request, _ = read_request(conn)
        seen.append({name.lower(): value for name, value in request.headers})
        if location is not None:
            conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 14\r\n\r\n"
                         b"data: hello\n\n\n")  # fmt: skip

    return handle


def _first_event(url: str, **options: Any) -> str:
    reader = EventSourceClient(url, reconnect=False, connect_timeout=WAIT, read_timeout=WAIT, **options)
    try:
        return next(iter(reader)).data
    finally:
        reader.close()


SECRETS = {"Authorization": "Bearer secret", "Cookie": "session=abc", "X-Trace": "kept"}


def test_event_source_redirected_to_another_origin_drops_credentials(no_leaks: None) -> None:
    # fetch's HTTP-redirect fetch deletes Authorization when the redirect leaves the origin
    # (urllib3 and requests also drop Cookie): another host must not receive the user's secrets.
    origin_seen: list[dict[str, str]] = []
    other_seen: list[dict[str, str]] = []
    with raw_server(_stream_or_redirect(None, other_seen)) as other:
        target = f"http://127.0.0.1:{other}/events"
        with raw_server(_stream_or_redirect(target, origin_seen)) as origin:
            assert _first_event(f"http://127.0.0.1:{origin}/start", headers=SECRETS) == "hello"
    assert origin_seen[0]["authorization"] == "Bearer secret" and origin_seen[0]["cookie"] == "session=abc"
    assert "authorization" not in other_seen[0] and "cookie" not in other_seen[0]
    assert other_seen[0]["x-trace"] == "kept"


def test_event_source_redirected_within_its_origin_keeps_credentials(no_leaks: None) -> None:
    seen: list[dict[str, str]] = []
    handlers = iter([_stream_or_redirect("/events", seen), _stream_or_redirect(None, seen)])
    with raw_server(lambda conn: next(handlers)(conn)) as port:
        assert _first_event(f"http://127.0.0.1:{port}/start", headers=SECRETS) == "hello"
    assert [fields.get("authorization") for fields in seen] == ["Bearer secret", "Bearer secret"]


def test_event_source_sends_url_credentials_as_basic_auth_like_the_websocket_client(no_leaks: None) -> None:
    seen: list[dict[str, str]] = []
    with raw_server(_stream_or_redirect(None, seen)) as port:
        assert _first_event(f"http://us%40er:p%3Ass@127.0.0.1:{port}/events") == "hello"
    assert seen[0]["authorization"] == "Basic " + base64.b64encode(b"us@er:p:ss").decode()


# -- interim responses --------------------------------------------------------------------------


@pytest.mark.parametrize("piecewise", [False, True])
def test_interim_1xx_responses_before_the_101_are_skipped(no_leaks: None, piecewise: bool) -> None:
    # RFC 9110 section 15.2: "A client MUST be able to parse one or more 1xx responses received
    # prior to a final response, even if the client does not expect one" (a CDN's 103 Early Hints);
    # for an upgrade the 101 is that final response.
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n"

    def handle(conn: socket.socket) -> None:
        request, _ = read_request(conn)
        data = interim + switching_protocols(request) + frame(1, b"after hints")
        for start in range(0, len(data), 7 if piecewise else len(data)):
            conn.sendall(data[start : start + (7 if piecewise else len(data))])
            if piecewise:
                time.sleep(0.001)
        serve_until_close(conn)

    with raw_server(handle) as port, connect(f"ws://127.0.0.1:{port}/") as client:
        assert client.status_code == 101
        assert client.recv(timeout=WAIT) == "after hints"


def test_event_source_fires_error_before_reconnecting_after_the_stream_ended(no_leaks: None) -> None:
    # WHATWG HTML 9.2.3 "reestablish the connection": readyState becomes CONNECTING and an event
    # named error is fired, also when the server ended the response cleanly (a browser's
    # onerror is how a page learns it was disconnected).
    served = iter(range(1, 3))

    def handle(conn: socket.socket) -> None:
        read_request(conn)
        body = f"retry: 20\ndata: event {next(served)}\n\n".encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
        conn.sendall(head.encode() + body)

    seen: list[tuple[str, Any]] = []
    with raw_server(handle) as port:
        reader = EventSourceClient(f"http://127.0.0.1:{port}/", connect_timeout=WAIT, read_timeout=WAIT)
        reader.onopen = lambda event: seen.append(("open", reader.ready_state.name))
        reader.onerror = lambda event: seen.append(("error", reader.ready_state.name))
        watchdog = threading.Timer(WAIT, reader.close)
        watchdog.start()
        try:
            for event in reader:
                seen.append(("message", event.data))
                if event.data == "event 2":
                    reader.close()
        finally:
            watchdog.cancel()
            watchdog.join(WAIT)
    assert seen == [
        ("open", "OPEN"),
        ("message", "event 1"),
        ("error", "CONNECTING"),
        ("open", "OPEN"),
        ("message", "event 2"),
    ]


# -- user headers named like the standard ones --------------------------------------------------


def test_a_host_header_given_by_the_user_replaces_ours_through_nginx(
    no_leaks: None, nginx_proxy: Callable[[int], ReverseProxy], faye_server: int
) -> None:
    # Connecting by address to a virtual host: two Host lines get nginx's 400 ("client sent
    # duplicate host header"), as RFC 9112 section 3.2 requires of any server.
    proxy = nginx_proxy(faye_server)
    with connect(proxy.url("/", scheme="ws"), ["chat"], headers={"Host": "chat.example"}) as client:
        _echo(client, "virtual host")
    reader = EventSourceClient(
        proxy.url("/events"), headers={"Host": "chat.example", "Accept": "text/event-stream"},
        connect_timeout=WAIT, read_timeout=WAIT,
    )  # fmt: skip
    try:
        assert next(iter(reader)).data == "tick 1"
    finally:
        reader.close()


def test_user_headers_replace_the_standard_fields_of_the_same_name() -> None:
    head = ClientDriver(
        "ws://127.0.0.1:8080/",
        headers={"host": "chat.example", "Origin": "https://a.example"},
        origin="https://b.example",
    ).request_head().decode("latin-1")  # fmt: skip
    assert head.count("\r\nHost: ") + head.count("\r\nhost: ") == 1 and "\r\nhost: chat.example\r\n" in head
    assert head.count("Origin: ") == 1 and "\r\nOrigin: https://a.example\r\n" in head
    stream_head = request_head("127.0.0.1:8080", "/", headers=[("Host", "chat.example"), ("Accept", "*/*")])
    assert stream_head.count(b"\r\nHost: ") == 1 and b"\r\nHost: chat.example\r\n" in stream_head
    assert stream_head.count(b"\r\nAccept: ") == 1
