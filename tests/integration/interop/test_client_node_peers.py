"""Our client against independent servers: python websockets, node ws, node faye-websocket."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from websockets.sync.server import ServerConnection, serve

from faye_websocket.client import connect
from faye_websocket.extensions.permessage_deflate import PermessageDeflate
from tests.integration.client_support import WAIT, RecordingClient
from tests.integration.components import NodePeer, TLSCerts
from tests.leaks import assert_no_leaks

LARGE = bytes(range(256)) * 1024  # 256 KiB: several frames' worth of TCP segments



@contextmanager
def websockets_echo(tls: TLSCerts | None = None) -> Iterator[str]:
    """python websockets' sync server echoing every message; yields its URL."""

    def handler(connection: ServerConnection) -> None:
        for message in connection:
            connection.send(message)

    context = tls.server_context() if tls else None
    with serve(handler, "127.0.0.1", 0, ssl=context) as server:
        thread = threading.Thread(target=server.serve_forever, name="websockets-server")
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            yield f"{'wss' if tls else 'ws'}://localhost:{port}/echo"
        finally:
            server.shutdown()
            thread.join(WAIT)
    gc.collect()  # websockets leaves an epoll selector to the garbage collector


def exchange(url: str, **options: object) -> dict[str, object]:
    """Echo text, binary and a large message through connect(); return what the client saw."""
    with connect(url, extensions=[PermessageDeflate()], proxy=False, **options) as ws:  # type: ignore[arg-type]
        ws.send("h\u00e9llo")
        text = ws.recv(WAIT)
        ws.send(b"\x00\x01\x02")
        binary = ws.recv(WAIT)
        ws.send(LARGE)
        large = ws.recv(WAIT)
        extensions = ws.headers.get("sec-websocket-extensions", "")
    close = ws.connection.close_event
    return {
        "text": text,
        "binary": binary,
        "large": large == LARGE,
        "extensions": extensions,
        "close": (close.code, close.was_clean) if close else None,
    }


def check(result: dict[str, object]) -> None:
    assert result["text"] == "h\u00e9llo"
    assert result["binary"] == b"\x00\x01\x02"
    assert result["large"] is True
    assert str(result["extensions"]).startswith("permessage-deflate")
    assert result["close"] == (1000, True)


def test_against_python_websockets(no_leaks: None) -> None:
    with websockets_echo() as url:
        check(exchange(url))


def test_against_python_websockets_over_wss(no_leaks: None, tls_certs: TLSCerts) -> None:
    with websockets_echo(tls_certs) as url:
        check(exchange(url, tls=tls_certs.client_context()))


@pytest.mark.parametrize("peer", ["ws_echo_server", "faye_echo_server"])
def test_against_node_peers(node_peer_server: Callable[..., NodePeer], peer: str) -> None:
    server = node_peer_server(peer)
    with assert_no_leaks():  # around the client only: the peer's process lives until teardown
        check(exchange(server.url("/chat")))


@pytest.mark.parametrize("peer", ["ws_echo_server", "faye_echo_server"])
def test_against_node_peers_over_wss(
    node_peer_server: Callable[..., NodePeer], peer: str, tls_certs: TLSCerts
) -> None:
    server = node_peer_server(peer, tls=True)
    with assert_no_leaks():
        check(exchange(server.url("/chat", scheme="wss", host="localhost"), tls=tls_certs.client_context()))


def test_threaded_client_against_node_faye(node_peer_server: Callable[..., NodePeer]) -> None:
    server = node_peer_server("faye_echo_server")
    with assert_no_leaks():
        run_threaded_client(server.url("/"))


def run_threaded_client(url: str) -> None:
    ws = RecordingClient(url, extensions=[PermessageDeflate()], proxy=False)
    assert ws.opened.wait(WAIT)
    ws.send("mic check")
    assert ws.message_arrived.wait(WAIT)
    ws.close(3000, "done")
    close = ws.wait_closed_event()
    assert ws.wait_closed(WAIT)
    assert ws.messages == ["mic check"]
    assert (close.code, close.reason) == (3000, "done")
