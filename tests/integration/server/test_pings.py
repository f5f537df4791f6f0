"""Pings of the server-side WebSocket over real sockets: the ping/pong keepalive timeout, callbacks
run by the matching pong (or a later one, RFC 6455 section 5.5.3) and let go at close."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from typing import Any

from websockets.sync.client import connect

from faye_websocket.server.websocket import WebSocket
from tests.integration.server_support import (
    CLOSE,
    PING,
    PONG,
    WAIT,
    HTTPServerThread,
    RawClient,
)


def test_silent_peer_is_detected_by_ping_and_pong_timeout_with_close_1006(no_leaks: None) -> None:
    with HTTPServerThread(ping=0.2, pong_timeout=0.3) as server, RawClient(server.port) as raw:
        server.recorded.wait_for("open")
        assert raw.read_frame().opcode == PING  # and we never answer
        data = raw.read_until_eof()
        (close,) = server.recorded.wait_for("close", timeout=3)
        assert close.code == 1006
        assert server.recorded.of_type("error"), "a pong timeout is reported as an error first"
        assert len(server.recorded.of_type("close")) == 1
        assert data == b"" or data[0] & 0x0F in (PING, CLOSE)


def test_peer_that_answers_pings_stays_connected_past_many_intervals() -> None:
    with (
        HTTPServerThread(ping=0.1, pong_timeout=0.2) as server,
        connect(server.url(), open_timeout=WAIT) as client,
    ):
        time.sleep(0.8)  # eight ping intervals: the point is that nothing happens meanwhile
        client.send("still alive")
        assert client.recv(timeout=WAIT) == "still alive"
        assert not server.recorded.of_type("close")
        assert len(server.recorded.of_type("pong")) >= 3


def test_ping_callback_runs_when_the_matching_pong_arrives() -> None:
    pinged = threading.Event()

    def ping_on_open(ws: WebSocket) -> None:
        ws.on("open", lambda event: ws.ping("are you there", callback=pinged.set))

    with HTTPServerThread(ping_on_open) as server, connect(server.url(), open_timeout=WAIT):
        assert pinged.wait(WAIT)


def test_a_pong_for_the_latest_ping_also_answers_the_earlier_ones(no_leaks: None) -> None:
    # RFC 6455 section 5.5.3: a peer that gets several pings may answer only the most recent.
    # The earlier pings' callbacks used to wait (and be kept) forever.
    answered: list[str] = []
    done = threading.Event()

    def three_pings(ws: WebSocket) -> None:
        def on_open(event: Any) -> None:
            ws.ping(b"first", lambda: answered.append("first"))
            ws.ping(b"second", lambda: answered.append("second"))
            def third() -> None:
                answered.append("third")
                done.set()

            ws.ping(b"third", third)

        ws.on("open", on_open)

    with HTTPServerThread(three_pings) as server, RawClient(server.port) as raw:
        ws = server.recorded.wait_socket()
        payloads = [raw.read_frame().payload for _ in range(3)]
        assert payloads == [b"first", b"second", b"third"]
        raw.send_frame(PONG, b"unsolicited")  # answers nothing
        raw.send_frame(PONG, b"second")
        deadline = time.monotonic() + WAIT
        while answered != ["first", "second"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert answered == ["first", "second"]
        raw.send_frame(PONG, b"third")
        assert done.wait(WAIT)
        assert answered == ["first", "second", "third"] and not ws._ping_callbacks
        raw.close_handshake()


def test_ping_callbacks_are_released_when_the_connection_closes(no_leaks: None) -> None:
    # A ping whose pong never comes keeps its callback until the pong; once the connection has
    # closed no pong can come, so the callback (and what it refers to) must be let go.
    refs: list[weakref.ref[Any]] = []

    class Callback:
        def __call__(self) -> None:
            pass

    def ping_with_callback(ws: WebSocket) -> None:
        def on_open(event: Any) -> None:
            callback = Callback()
            refs.append(weakref.ref(callback))
            ws.ping(b"never answered", callback)

        ws.on("open", on_open)

    with HTTPServerThread(ping_with_callback) as server, RawClient(server.port) as raw:
        ws = server.recorded.wait_socket()
        server.recorded.wait_for("open")
        raw.read_frame()  # the ping; no pong
        raw.close_handshake()
        server.recorded.wait_for("close")
        gc.collect()
        assert refs and refs[0]() is None, "the ping callback outlived the connection"
        assert ws is not None
