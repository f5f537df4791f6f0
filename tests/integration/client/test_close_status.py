"""Every close code valid on the wire, on both sides; the close status after the close; the send
that cannot lose a message silently. Against our server, our client and python websockets.
"""

from __future__ import annotations

import pytest

from faye_websocket.client import connect
from faye_websocket.errors import ConnectionClosed
from faye_websocket.server.websocket import WebSocket
from tests.integration.client_support import WAIT
from tests.integration.server_support import HTTPServerThread

websockets_sync = pytest.importorskip("websockets.sync.client")

# RFC 6455 section 7.4: what a close frame may carry, and what it may not.
SENDABLE = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
REFUSED = [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]


def closing_with(code: int, reason: str) -> HTTPServerThread:
    """A server that closes every connection with ``code`` and ``reason`` on its first message."""

    def setup(ws: WebSocket) -> None:
        ws.on("message", lambda event: event.target.close(code, reason))

    return HTTPServerThread(setup)


@pytest.mark.parametrize("code", [1008, 1011])
def test_a_server_close_code_is_seen_by_python_websockets(no_leaks: None, code: int) -> None:
    with closing_with(code, "policy says no") as server, websockets_sync.connect(server.url()) as peer:
        peer.send("hello")
        with pytest.raises(Exception) as closed:
            peer.recv(timeout=WAIT)
        received = closed.value.rcvd  # type: ignore[attr-defined]
        assert (received.code, received.reason) == (code, "policy says no")


@pytest.mark.parametrize("code", [1008, 1011])
def test_a_server_close_code_is_seen_by_our_client(no_leaks: None, code: int) -> None:
    with closing_with(code, "policy says no") as server, connect(server.url()) as ws:
        ws.send("hello")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert (closed.value.code, closed.value.reason) == (code, "policy says no")
        assert (ws.close_code, ws.close_reason, ws.was_clean) == (code, "policy says no", True)


@pytest.mark.parametrize("code", SENDABLE)
def test_our_client_may_close_with_every_wire_code(no_leaks: None, code: int) -> None:
    with HTTPServerThread() as server:
        ws = connect(server.url())
        assert ws.close_code is None and ws.was_clean is None
        ws.close(code, "bye")
        closes = server.recorded.wait_for("close")
        assert (closes[0].code, closes[0].reason) == (code, "bye")  # type: ignore[attr-defined]
        assert (ws.close_code, ws.close_reason, ws.was_clean) == (code, "bye", True)


@pytest.mark.parametrize("code", REFUSED)
def test_codes_that_may_not_be_sent_are_refused_on_both_sides(no_leaks: None, code: int) -> None:
    refusals: list[str] = []

    def setup(ws: WebSocket) -> None:
        try:
            ws.close(code)
        except ValueError as error:
            refusals.append(str(error))
            ws.close(1000)

    with HTTPServerThread(setup) as server, connect(server.url()) as ws:
        with pytest.raises(ValueError, match=str(code)):
            ws.close(code)
        server.recorded.wait_for("close")
    assert len(refusals) == 1 and str(code) in refusals[0]


def test_send_or_raise_raises_with_the_close_code_where_send_returns_false(no_leaks: None) -> None:
    with closing_with(1013, "try again later") as server, connect(server.url()) as ws:
        ws.send_or_raise("hello")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=WAIT)
        assert ws.send("lost") is False
        with pytest.raises(ConnectionClosed) as closed:
            ws.send_or_raise("not lost silently")
        assert (closed.value.code, closed.value.reason) == (1013, "try again later")


def test_close_status_of_a_connection_that_ended_without_a_handshake(no_leaks: None) -> None:
    def setup(ws: WebSocket) -> None:
        ws.on("message", lambda event: event.target.connection.abort("dropped"))

    with HTTPServerThread(setup) as server, connect(server.url()) as ws:
        ws.send("drop me")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=WAIT)
        assert (ws.close_code, ws.was_clean) == (1006, False)
