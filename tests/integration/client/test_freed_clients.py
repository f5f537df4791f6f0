"""A connect()ed client that has closed is freed by reference counting, through real sockets: no
reference cycle is left for a garbage collection to find, whichever call read the close (the
client's close(), or a recv() that saw the server's). Each collection walks every object still
waiting for one, and a client that connects and closes again and again paid for it."""

from __future__ import annotations

import weakref
from typing import Any

import pytest

from faye_websocket.client import connect
from faye_websocket.errors import ConnectionClosed
from faye_websocket.server.websocket import WebSocket
from tests.integration.client_support import WAIT
from tests.integration.server_support import HTTPServerThread


def _refs(ws: Any) -> list[weakref.ref[Any]]:
    return [weakref.ref(item) for item in (ws, ws.connection, ws.connection.driver)]


@pytest.mark.usefixtures("no_automatic_collection")
def test_a_client_closed_by_close_leaves_no_reference_cycle(no_leaks: None) -> None:
    with HTTPServerThread() as server:
        ws = connect(server.url(), onmessage=lambda event: None)
        ws.close()
        assert ws.close_code == 1000
        refs = _refs(ws)
        del ws
        assert [ref() for ref in refs] == [None, None, None]


@pytest.mark.usefixtures("no_automatic_collection")
def test_a_client_closed_by_the_server_during_recv_leaves_no_reference_cycle(no_leaks: None) -> None:
    def setup(ws: WebSocket) -> None:
        ws.on("message", lambda event: event.target.close(1001, "going"))

    with HTTPServerThread(setup) as server:
        ws = connect(server.url())
        ws.send("bye")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=WAIT)
        assert ws.close_code == 1001
        refs = _refs(ws)
        del ws
        assert [ref() for ref in refs] == [None, None, None]
