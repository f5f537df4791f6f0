"""Every event knows its connection (``event.target``), so a listener never touches a name that
is not bound yet: the README's client example, run 500 times, never fails in a listener.
"""

from __future__ import annotations

import logging
import threading

import pytest

from faye_websocket.client import Client
from faye_websocket.events import CloseEvent, MessageEvent, OpenEvent
from tests.integration.client_support import WAIT
from tests.integration.server_support import HTTPServerThread

RUNS = 500  # the count: the old example failed about once in 200 runs


def test_the_readme_client_example_500_times_without_a_listener_error(
    no_leaks: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="faye_websocket")
    with HTTPServerThread() as server:
        for _ in range(RUNS):
            replies: list[object] = []
            closed = threading.Event()
            # As in the README: the open listener sends through event.target, never through
            # `client`, which may not be bound yet when the client's thread fires it.
            client = Client(server.url(), onopen=lambda event: event.target.send("Hello, world!"),
                            onmessage=lambda event, replies=replies: (replies.append(event.data),
                                                                      event.target.close()),
                            onclose=lambda event, closed=closed: closed.set())
            assert closed.wait(WAIT)
            assert client.wait_closed(WAIT)
            assert replies == ["Hello, world!"]
    assert [record.getMessage() for record in caplog.records] == []


def test_every_event_carries_its_connection_on_both_sides(no_leaks: None) -> None:
    server_targets: list[object] = []

    def setup(ws: object) -> None:
        for kind in ("message", "close"):
            ws.on(kind, lambda event: server_targets.append(event.target))  # type: ignore[attr-defined]
        ws.on("message", lambda event: event.target.send(event.data))  # type: ignore[attr-defined]

    events: list[object] = []
    with HTTPServerThread(setup) as server:
        client = Client(server.url(), onopen=lambda e: (events.append(e), e.target.send("echo me")),
                        onmessage=lambda e: (events.append(e), e.target.close()), onclose=events.append)
        assert client.wait_closed(WAIT)
        server.recorded.wait_for("close")
    assert [type(event) for event in events] == [OpenEvent, MessageEvent, CloseEvent]
    assert all(event.target is client for event in events)  # type: ignore[attr-defined]
    assert len(server_targets) == 2 and server_targets[0] is server_targets[1] is server.recorded.sockets[0]
