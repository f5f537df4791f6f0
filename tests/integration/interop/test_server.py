"""Our server against independent peers doing legal, common things: interop, not conformance.

Peers: node ``ws`` 8 with perMessageDeflate options and fragmented sends (``ws.send(data, {fin:
false})`` streams), python ``websockets`` (iterables as fragments, pings, close codes with
reasons), headless Chromium (bursts, ArrayBuffer and Blob, a page unload), each straight to our
servers, through nginx and haproxy (ws, and wss with TLS ended at the proxy), and under WSGI
takeover (gunicorn gthread, werkzeug). Every wait is bounded; every port is dynamic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from faye_websocket.extensions import PermessageDeflate
from faye_websocket.server.websocket import WebSocket
from tests.integration.components import (
    ResultCollector,
    ReverseProxy,
    TLSCerts,
    gunicorn_server,
    require_executable,
    run_chromium,
    werkzeug_server,
)
from tests.integration.components.node import PEERS_DIR
from tests.integration.server_support import HTTPServerThread, RawServerThread
from tests.paths import EXAMPLES

DEADLINE = 15.0  # seconds; no single wait in this module may take longer
SERVERS = {"http_server": HTTPServerThread, "socketserver": RawServerThread}

# A node `ws` client driven by a JSON config: sends whole messages and fragmented streams, pings,
# waits for every echo, closes with the given code and reason, prints one JSON result line.
WS_CLIENT_JS = r"""
'use strict';
const WebSocket = require(process.env.WS_MODULE);
const crypto = require('crypto');
const config = JSON.parse(process.argv[3]);
const ws = new WebSocket(process.argv[2], {perMessageDeflate: config.pmd});
const result = {echoes: [], pongs: [], serverPings: 0, errors: []};
const expected = [];
const big = 'abcdefghij'.repeat(20000);
const random = crypto.randomBytes(100000);
const timer = setTimeout(() => { result.timeout = true; finish(); }, config.timeoutMs);
function finish() { clearTimeout(timer); console.log(JSON.stringify(result)); process.exit(0); }
function sendAll() {
  for (const m of ['hello', '', big, random, 'h\u00e9llo \u2603']) { ws.send(m); expected.push(m); }
  // fragmented streams: RFC 6455 section 5.4, each fragment sent as soon as it is given
  ws.send('part1-', {fin: false}); ws.send('part2-', {fin: false}); ws.send(big, {fin: true});
  expected.push('part1-part2-' + big);
  ws.send(Buffer.from('ab'), {binary: true, fin: false});
  ws.send(Buffer.alloc(0), {binary: true, fin: false});
  ws.send(random, {binary: true, fin: true});
  expected.push(Buffer.concat([Buffer.from('ab'), random]));
  ws.ping('are you there');
}
ws.on('open', () => {
  result.extension = ws.extensions;
  const pmd = ws._extensions['permessage-deflate'];
  result.params = pmd ? pmd.params : null;
  setTimeout(sendAll, config.idleMs || 0);
});
ws.on('ping', () => { result.serverPings += 1; });
ws.on('pong', (data) => result.pongs.push(data.toString()));
ws.on('message', (data, isBinary) => {
  const want = expected[result.echoes.length];
  const same = Buffer.isBuffer(want) ? isBinary && Buffer.compare(Buffer.from(data), want) === 0
                                     : !isBinary && data.toString() === want;
  result.echoes.push(same);
  if (result.echoes.length === expected.length) ws.close(config.code, config.reason);
});
ws.on('error', (error) => result.errors.push(String(error.message)));
ws.on('close', (code, reason) => { result.code = code; result.reason = reason.toString(); finish(); });
"""

ECHOES = 7  # messages WS_CLIENT_JS expects back


def run_ws_client(tmp_path: Path, url: str, *, pmd: Any = True, code: int = 1000, reason: str = "",
                  idle_ms: int = 0, certs: TLSCerts | None = None) -> dict[str, Any]:
    """Run WS_CLIENT_JS against ``url``; its result object (AssertionError on a bad run)."""
    node = require_executable("node")
    script = tmp_path / "interop_ws_client.js"
    script.write_text(WS_CLIENT_JS)
    config = {"pmd": pmd, "code": code, "reason": reason, "idleMs": idle_ms,
              "timeoutMs": int(DEADLINE * 1000)}
    env = dict(os.environ, WS_MODULE=str(PEERS_DIR / "node_modules" / "ws"))
    if certs is not None:
        env["NODE_EXTRA_CA_CERTS"] = str(certs.ca_pem)
    done = subprocess.run([node, str(script), url, json.dumps(config)], env=env, capture_output=True,
                          text=True, timeout=DEADLINE + 5)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def assert_clean_echo(result: dict[str, Any], code: int = 1000, reason: str = "") -> None:
    assert "timeout" not in result and not result["errors"], result
    assert result["echoes"] == [True] * ECHOES, result
    assert result["pongs"] == ["are you there"], result
    assert (result["code"], result["reason"]) == (code, reason), result


def echo_deflate(ws: WebSocket) -> None:
    ws.on("message", lambda event: ws.send(event.data))


def close_events(server: Any, count: int = 1) -> list[tuple[int | None, str]]:
    events = server.recorded.wait_for("close", count, timeout=DEADLINE)
    return [(event.code, event.reason) for event in events]


# -- node ws: permessage-deflate options and fragmented sends ----------------------------------


@pytest.mark.parametrize("server_kind", list(SERVERS))
@pytest.mark.parametrize(
    ("pmd", "params"),
    [
        (True, {}),
        ({"serverNoContextTakeover": True, "clientNoContextTakeover": True},
         {"server_no_context_takeover": True, "client_no_context_takeover": True}),
        ({"serverMaxWindowBits": 8}, {"server_max_window_bits": 8}),
        ({"serverMaxWindowBits": 15, "clientMaxWindowBits": 8},
         {"server_max_window_bits": 15, "client_max_window_bits": 8}),
        ({"serverMaxWindowBits": 9, "clientMaxWindowBits": 9, "threshold": 0},
         {"server_max_window_bits": 9, "client_max_window_bits": 9}),
        (False, None),
    ],
    ids=["default", "no_context_takeover", "server_bits_8", "client_bits_8", "bits_9_threshold_0", "off"],
)
def test_node_ws_deflate_options_and_fragmented_streams(
    no_leaks: None, tmp_path: Path, server_kind: str, pmd: Any, params: dict[str, Any] | None
) -> None:
    with SERVERS[server_kind](echo_deflate, extensions=[PermessageDeflate()]) as server:
        result = run_ws_client(tmp_path, server.url(), pmd=pmd, code=4001, reason="done \u00e9")
        assert result["params"] == params, result
        assert_clean_echo(result, 4001, "done \u00e9")
        assert close_events(server) == [(4001, "done \u00e9")]


@pytest.mark.parametrize(
    "options",
    [{"max_window_bits": 8, "request_max_window_bits": 8, "no_context_takeover": True,
      "request_no_context_takeover": True}, {"level": 9, "mem_level": 9, "threshold": 0}],
    ids=["server_asks_8_bits_no_takeover", "level_9_threshold_0"],
)
def test_node_ws_with_our_server_side_deflate_options(
    no_leaks: None, tmp_path: Path, options: dict[str, Any]
) -> None:
    with RawServerThread(echo_deflate, extensions=[PermessageDeflate(**options)]) as server:
        assert_clean_echo(run_ws_client(tmp_path, server.url()))
        assert close_events(server) == [(1000, "")]


# -- python websockets: iterables as fragments, pings, close codes ------------------------------


@pytest.mark.parametrize("server_kind", list(SERVERS))
@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1001, "page left"), (1011, "oops"),
                                              (4000, "app: r\u00e9ason")])
def test_websockets_client_fragments_pings_and_close_codes(
    no_leaks: None, server_kind: str, code: int, reason: str
) -> None:
    with SERVERS[server_kind](echo_deflate, extensions=[PermessageDeflate()]) as server:
        with connect(server.url(), open_timeout=DEADLINE, close_timeout=DEADLINE, max_size=None) as client:
            client.send(["ab", "", "cd", "\u00e9" * 40000])  # one text message in four frames
            assert client.recv(timeout=DEADLINE) == "abcd" + "\u00e9" * 40000
            client.send(iter([b"\x00\x01", b"\xff" * 70000]))
            assert client.recv(timeout=DEADLINE) == b"\x00\x01" + b"\xff" * 70000
            assert client.ping(b"p1").wait(DEADLINE)
            client.close(code, reason)
        assert close_events(server) == [(code, reason)]


def test_websockets_client_max_size_closes_our_server_with_1009(no_leaks: None) -> None:
    with RawServerThread(echo_deflate, extensions=[PermessageDeflate()]) as server:
        with pytest.raises(ConnectionClosed) as raised, connect(
            server.url(), open_timeout=DEADLINE, close_timeout=DEADLINE, max_size=100
        ) as client:
            client.send("y" * 1000)
            client.recv(timeout=DEADLINE)
        assert raised.value.sent is not None and raised.value.sent.code == 1009
        assert [code for code, _ in close_events(server)] == [1009]


# -- reverse proxies: nginx (Connection: upgrade, Host rewritten) and haproxy (lowercase names) ---


@pytest.mark.component
@pytest.mark.parametrize("server_kind", list(SERVERS))
@pytest.mark.parametrize("scheme", ["ws", "wss"])
@pytest.mark.parametrize("proxy_kind", ["nginx", "haproxy"])
def test_behind_a_reverse_proxy_node_ws_and_websockets(
    tmp_path: Path, tls_certs: TLSCerts, nginx_proxy: Callable[[int], ReverseProxy],
    haproxy_proxy: Callable[[int], ReverseProxy], proxy_kind: str, scheme: str, server_kind: str,
) -> None:
    start = nginx_proxy if proxy_kind == "nginx" else haproxy_proxy
    # ping: our pings and the peers' pongs must cross the proxy while the client sits idle. The
    # pong deadline is the test's, not the ping interval (the default): on a loaded machine a pong
    # through the proxy's TLS can take longer than 0.2 s, and the server would rightly close.
    with SERVERS[server_kind](echo_deflate, extensions=[PermessageDeflate()], ping=0.2,
                              pong_timeout=DEADLINE) as server:
        proxy = start(server.port)
        url = proxy.url("/chat?room=1", scheme)
        certs = tls_certs if scheme == "wss" else None
        result = run_ws_client(tmp_path, url, code=4002, reason="bye", idle_ms=700, certs=certs)
        assert_clean_echo(result, 4002, "bye")
        assert result["serverPings"] >= 2, result
        ssl_context = tls_certs.client_context() if scheme == "wss" else None
        with connect(url, ssl=ssl_context, open_timeout=DEADLINE, close_timeout=DEADLINE,
                     max_size=None) as client:
            client.send(["a", "b", "c" * 300000])
            assert client.recv(timeout=DEADLINE) == "ab" + "c" * 300000
            assert client.response is not None
            assert "permessage-deflate" in client.response.headers["Sec-WebSocket-Extensions"]
            client.close(1001)
        assert close_events(server, 2) == [(4002, "bye"), (1001, "")]
        first = server.recorded.sockets[0]
        assert first.url.endswith("/chat?room=1")
        if proxy_kind == "nginx":  # it sends X-Forwarded-Proto $scheme
            assert first.url.startswith(f"{scheme}://"), first.url
        assert not server.recorded.of_type("error")


# -- Chromium -----------------------------------------------------------------------------------

BURST_PAGE = """<!doctype html><meta charset="utf-8"><script>
var ws = new WebSocket('ws://127.0.0.1:PORT/burst'), got = [], N = 2000;
ws.binaryType = 'arraybuffer';
ws.onopen = function () {
  for (var i = 0; i < N; i++) ws.send('m' + i);
  ws.send(new Uint8Array([1, 2, 3]).buffer);
  ws.send(new Blob(['blob', new Uint8Array([0, 255])]));
};
ws.onmessage = function (e) {
  got.push(typeof e.data === 'string' ? e.data : Array.from(new Uint8Array(e.data)).join(','));
  if (got.length === N + 2) ws.close(4000, 'done \\u00e9');
};
ws.onclose = function (e) {
  fetch('/result', {method: 'POST', body: JSON.stringify({code: e.code, reason: e.reason, clean: e.wasClean,
    inOrder: got.slice(0, N).every(function (m, i) { return m === 'm' + i; }), tail: got.slice(N)})});
};
</script>"""

UNLOAD_PAGE = """<!doctype html><meta charset="utf-8"><script>
var ws = new WebSocket('ws://127.0.0.1:PORT/leave'), n = 0;
ws.onmessage = function () { if (++n === 3) location.href = '/gone'; };
</script>"""


@pytest.mark.component
@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_chromium_burst_with_arraybuffer_and_blob_then_close_code(
    result_collector: ResultCollector, deflate: bool
) -> None:
    extensions = [PermessageDeflate()] if deflate else []
    with RawServerThread(echo_deflate, extensions=extensions) as server:
        result_collector.add_route("/page", BURST_PAGE.replace("PORT", str(server.port)))
        with run_chromium(result_collector.url("/page"), timeout=40) as browser:
            result = result_collector.wait_result(browser.remaining(), context=browser.output())
        assert result["inOrder"] and result["tail"] == ["1,2,3", "98,108,111,98,0,255"], result
        assert (result["code"], result["reason"], result["clean"]) == (4000, "done \u00e9", True)
        assert close_events(server) == [(4000, "done \u00e9")]


@pytest.mark.component
def test_chromium_leaving_the_page_while_we_stream_gives_one_close_event(
    result_collector: ResultCollector,
) -> None:
    chunk = os.urandom(1 << 20)
    senders: list[threading.Thread] = []

    def stream(ws: WebSocket) -> None:
        def send_until_refused() -> None:
            while ws.send(chunk):  # False once the browser has gone; each bounded by send_timeout
                pass

        def start(_: object) -> None:
            senders.append(threading.Thread(target=send_until_refused, name="interop-stream"))
            senders[-1].start()

        ws.on("open", start)

    with RawServerThread(stream, extensions=[PermessageDeflate()], send_timeout=DEADLINE) as server:
        result_collector.add_route("/page", UNLOAD_PAGE.replace("PORT", str(server.port)))
        result_collector.add_route("/gone", '<script>fetch("/result", {method: "POST", body: "{}"})</script>')
        with run_chromium(result_collector.url("/page"), timeout=40) as browser:
            result_collector.wait_result(browser.remaining(), context=browser.output())
            events = close_events(server)
        for sender in senders:
            sender.join(DEADLINE)
            assert not sender.is_alive()
        # Chromium sends 1001 (going away) when the page is left (RFC 6455 section 7.4.1).
        assert [code for code, _ in events] in ([1001], [1006]), events
        assert len(server.recorded.of_type("close")) == 1


# -- WSGI takeover with node ws and deflate -----------------------------------------------------


@contextmanager
def gunicorn_gthread() -> Iterator[int]:
    with gunicorn_server("wsgi_app:application", chdir=EXAMPLES) as (port, _):
        yield port


@contextmanager
def werkzeug_threaded() -> Iterator[int]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import wsgi_app  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EXAMPLES))
    with werkzeug_server(wsgi_app.application) as port:
        yield port


@pytest.mark.parametrize("wsgi_server", [gunicorn_gthread, werkzeug_threaded],
                         ids=["gunicorn_gthread", "werkzeug"])
@pytest.mark.parametrize(
    "pmd",
    [True, {"serverNoContextTakeover": True, "clientNoContextTakeover": True, "serverMaxWindowBits": 10,
            "clientMaxWindowBits": 9}],
    ids=["default", "options"],
)
def test_wsgi_takeover_with_node_ws_deflate(tmp_path: Path, wsgi_server: Callable[[], Any], pmd: Any) -> None:
    with wsgi_server() as port:
        result = run_ws_client(tmp_path, f"ws://127.0.0.1:{port}/echo", pmd=pmd, code=4003, reason="wsgi")
    assert result["extension"].startswith("permessage-deflate"), result
    assert_clean_echo(result, 4003, "wsgi")


@pytest.mark.component
@pytest.mark.parametrize("server_kind", list(SERVERS))
@pytest.mark.parametrize("proxy_kind", ["nginx", "haproxy"])
def test_server_shutdown_reaches_clients_behind_a_proxy_as_1001(
    nginx_proxy: Callable[[int], ReverseProxy], haproxy_proxy: Callable[[int], ReverseProxy],
    proxy_kind: str, server_kind: str,
) -> None:
    start = nginx_proxy if proxy_kind == "nginx" else haproxy_proxy
    server = SERVERS[server_kind]()
    with server:  # stops the server if the test fails early; a second __exit__ is a no-op
        proxy = start(server.port)
        with ExitStack() as clients:
            peers = [clients.enter_context(connect(proxy.url("/", "ws"), open_timeout=DEADLINE,
                                                   close_timeout=DEADLINE)) for _ in range(3)]
            for peer in peers:
                peer.send("x")
                assert peer.recv(timeout=DEADLINE) == "x"
            started = time.monotonic()
            server.__exit__(None, None, None)  # shutdown() and server_close(): 1001 to everyone
            # the closing handshakes completed through the proxy: no wait for shutdown_grace
            assert time.monotonic() - started < server.server.shutdown_grace
            for peer in peers:
                with pytest.raises(ConnectionClosed) as raised:
                    peer.recv(timeout=DEADLINE)
                assert raised.value.rcvd is not None and raised.value.rcvd.code == 1001
    assert [event.code for event in server.recorded.of_type("close")] == [1001] * 3
