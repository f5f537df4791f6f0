"""A server connection that has closed is freed by reference counting, through real sockets: no
reference cycle is left for a garbage collection to find (each collection walks every object
still waiting for one, and a server that opens and closes many connections paid for it)."""

from __future__ import annotations

import threading
import time
import weakref
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from faye_websocket.extensions.permessage_deflate import PermessageDeflate
from faye_websocket.server.http_server import WebSocketHTTPServer
from faye_websocket.server.websocket import WebSocket
from tests.integration.server_support import PING, PONG, TEXT, WAIT, RawClient

POLL = 0.01  # seconds between looks at the weak references while the handler returns


def wait_dead(ref: weakref.ref[Any]) -> bool:
    """True once nothing refers to ``ref``'s object, within WAIT seconds (no collection runs)."""
    deadline = time.monotonic() + WAIT
    while ref() is not None and time.monotonic() < deadline:
        time.sleep(POLL)
    return ref() is None


@pytest.mark.usefixtures("no_automatic_collection")
@pytest.mark.parametrize("offer", [(), (("Sec-WebSocket-Extensions", "permessage-deflate"),)])
# A message is taken without the parser's generator; a ping starts it, and the close frame that
# follows, taken at once too, must not leave it suspended (it refers back to the driver).
@pytest.mark.parametrize("first", [TEXT, PING])
def test_a_closed_connection_leaves_no_reference_cycle(offer: tuple[tuple[str, str], ...],
                                                       first: int) -> None:
    made: list[weakref.ref[Any]] = []
    returned = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ws = WebSocket.from_handler(self, ["chat"], extensions=[PermessageDeflate()], ping=30)
            ws.on("message", lambda event: event.target.send(event.data))
            ws.on("close", lambda event: None)
            driver = ws.connection.driver
            made.extend(weakref.ref(item) for item in (ws, ws.connection, driver, driver.protocol_driver))
            del driver
            ws.run()
            returned.set()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = WebSocketHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with RawClient(server.server_address[1], protocols="chat", extra=offer) as raw:
            raw.send_frame(first, b"hello")
            # the echo (compressed when deflate was offered), or the pong
            assert raw.read_frame().opcode == (TEXT if first == TEXT else PONG)
            raw.close_handshake()
        assert returned.wait(WAIT)
        assert all(wait_dead(ref) for ref in made), [ref() for ref in made]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)
