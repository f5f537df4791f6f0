"""Closing, deadlines, threads and errors of the server-side WebSocket, over real sockets."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed as PeerClosed
from websockets.sync.client import ClientConnection, connect

from faye_websocket.events import CloseEvent
from faye_websocket.server.websocket import WebSocket
from tests.integration.server_support import (
    CLOSE,
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    RawServerThread,
    close_payload,
    echo,
    handshake_request,
)


def test_server_close_from_a_listener_sends_the_code_and_ends_tcp_after_the_reply() -> None:
    def close_on_message(ws: WebSocket) -> None:
        ws.on("message", lambda event: ws.close(4001, "enough"))

    with HTTPServerThread(close_on_message) as server, RawClient(server.port) as raw:
        raw.send_frame(TEXT, b"hello")
        frame = raw.read_message()
        assert (frame.opcode, frame.close_code, frame.payload[2:]) == (CLOSE, 4001, b"enough")
        raw.send_frame(CLOSE, frame.payload)
        raw.expect_eof()
        (close,) = server.recorded.wait_for("close")
        assert (close.code, close.was_clean) == (4001, True)


def test_close_from_another_thread_while_run_is_blocked_completes_the_handshake(no_leaks: None) -> None:
    with HTTPServerThread() as server, RawClient(server.port) as raw:
        ws = server.recorded.wait_socket()
        server.recorded.wait_for("open")
        ws.close(1000, "from the test thread")
        frame = raw.read_message()
        assert frame.close_code == 1000
        raw.send_frame(CLOSE, close_payload(1000))
        raw.expect_eof()
        (close,) = server.recorded.wait_for("close")
        assert close.code == 1000 and close.was_clean
        assert ws.ready_state.name == "CLOSED"


def test_peer_that_never_answers_our_close_is_cut_off_after_close_timeout_with_1006(no_leaks: None) -> None:
    with HTTPServerThread(close_timeout=0.5) as server, RawClient(server.port) as raw:
        ws = server.recorded.wait_socket()
        server.recorded.wait_for("open")
        started = time.monotonic()
        ws.close()  # from another thread than the reader: the watchdog enforces the deadline
        assert raw.read_message().opcode == CLOSE
        raw.expect_eof()
        (close,) = server.recorded.wait_for("close")
        assert close.code == 1006 and not close.was_clean
        assert 0.4 < time.monotonic() - started < 3.0


def test_close_timeout_also_applies_when_a_listener_closes_on_the_reader_thread() -> None:
    def close_on_message(ws: WebSocket) -> None:
        ws.on("message", lambda event: ws.close())

    with HTTPServerThread(close_on_message, close_timeout=0.3) as server, RawClient(server.port) as raw:
        raw.send_frame(TEXT, b"go")
        assert raw.read_message().opcode == CLOSE
        raw.expect_eof()
        (close,) = server.recorded.wait_for("close")
        assert close.code == 1006


def test_listener_that_raises_is_logged_and_the_connection_lives_on(caplog: pytest.LogCaptureFixture) -> None:
    def broken_then_echo(ws: WebSocket) -> None:
        ws.onmessage = lambda event: 1 / 0
        echo(ws)

    with (
        caplog.at_level(logging.ERROR, logger="faye_websocket"),
        HTTPServerThread(broken_then_echo) as server,
        connect(server.url(), open_timeout=WAIT) as client,
    ):
        client.send("one")
        assert client.recv(timeout=WAIT) == "one"
        client.send("two")
        assert client.recv(timeout=WAIT) == "two"
    assert any("ZeroDivisionError" in record.exc_text for record in caplog.records if record.exc_text)


def test_peer_that_drops_tcp_gives_exactly_one_close_event_1006(no_leaks: None) -> None:
    with HTTPServerThread() as server:
        raw = RawClient(server.port)
        server.recorded.wait_for("open")
        raw.close()
        (close,) = server.recorded.wait_for("close")
        assert close.code == 1006 and not close.was_clean
        time.sleep(0.1)
        assert len(server.recorded.of_type("close")) == 1


def test_server_shutdown_closes_live_connections_with_1001(no_leaks: None) -> None:
    server = HTTPServerThread().__enter__()
    with connect(server.url(), open_timeout=WAIT) as client:
        server.recorded.wait_for("open")
        shut_down_and_expect_1001(server, client)


def shut_down_and_expect_1001(server: HTTPServerThread, client: ClientConnection) -> None:
    """Stop ``server`` (bounded: under 3 s) and see ``client`` get its close frame, code 1001."""
    stopped = time.monotonic()
    server.__exit__(None, None, None)
    assert time.monotonic() - stopped < 3
    with pytest.raises(PeerClosed) as caught:
        client.recv(timeout=WAIT)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1001


def test_a_closed_websocket_still_referred_to_is_not_live_for_the_servers_tracker(no_leaks: None) -> None:
    # The tracker hears of no close (no listener per connection): it leaves CLOSED WebSockets
    # out of its count and of the shutdown, which still closes the live one with 1001.
    server = HTTPServerThread().__enter__()
    stopped = False
    try:
        with RawClient(server.port) as raw:
            raw.send_frame(CLOSE, close_payload(1000, "done"))
            assert raw.read_message().close_code == 1000
            raw.expect_eof()
        server.recorded.wait_for("close")
        assert len(server.recorded.sockets) == 1  # the test's record still refers to it
        assert len(server.server.websockets) == 0  # CLOSED before the close listeners run
        with connect(server.url(), open_timeout=WAIT) as client:
            server.recorded.wait_for("open", 2)
            assert len(server.server.websockets) == 1
            stopped = True
            shut_down_and_expect_1001(server, client)
    finally:
        if not stopped:
            server.__exit__(None, None, None)


def test_client_that_sends_half_a_request_is_dropped_after_the_handshake_timeout(no_leaks: None) -> None:
    with RawServerThread(handshake_timeout=0.3) as server:
        raw = RawClient(server.port, request=b"GET / HTTP/1.1\r\nHost: x\r\n", read_response=False)
        started = time.monotonic()
        assert raw.read_until_eof().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert time.monotonic() - started < 3
        (close,) = server.recorded.wait_for("close")
        # answered like every refused handshake: an HTTP error, then error and close events
        assert (close.code, close.reason) == (1002, "Request Timeout")
        raw.close()


def test_unmasked_client_frame_fails_the_connection_with_1002(no_leaks: None) -> None:
    with HTTPServerThread() as server, RawClient(server.port) as raw:
        raw.send_frame(TEXT, b"naked", masked=False)
        frame = raw.read_message()
        assert (frame.opcode, frame.close_code) == (CLOSE, 1002)
        raw.expect_eof()
        server.recorded.wait_for("error")
        (close,) = server.recorded.wait_for("close")
        assert close.code == 1002


def test_close_refuses_codes_invalid_on_the_wire_and_long_reasons() -> None:
    with HTTPServerThread() as server, RawClient(server.port):
        ws = server.recorded.wait_socket()
        for code in (999, 1004, 1005, 1006, 1015, 2999, 5000):  # RFC 6455 section 7.4
            with pytest.raises(ValueError):
                ws.close(code)
        with pytest.raises(ValueError):
            ws.close(1000, "é" * 62)
        with pytest.raises(TypeError):
            ws.send(42)  # type: ignore[arg-type]


def test_send_after_close_returns_false() -> None:
    with HTTPServerThread() as server:
        with RawClient(server.port) as raw:
            ws = server.recorded.wait_socket()
            assert ws.send("before") is True
            raw.read_message()
            raw.close_handshake()
        server.recorded.wait_for("close")
        assert ws.send("after") is False
        assert ws.ping() is False


def test_context_manager_closes_with_1000() -> None:
    def closing_block(ws: WebSocket) -> None:
        with ws:
            ws.send("inside")

    with HTTPServerThread(closing_block) as server, RawClient(server.port) as raw:
        assert raw.read_message().payload == b"inside"
        frame = raw.read_message()
        assert frame.close_code == 1000
        raw.send_frame(CLOSE, frame.payload)
        raw.expect_eof()


def test_origin_not_in_the_allowed_list_gets_403_and_no_upgrade() -> None:
    allowed = ["https://good.example"]
    with HTTPServerThread(origin=allowed) as server:
        with RawClient(server.port, extra=(("Origin", "https://evil.example"),)) as raw:
            assert raw.status == 403
        with RawClient(server.port, extra=(("Origin", "https://good.example"),)) as raw:
            assert raw.status == 101


def test_close_of_one_connection_does_not_disturb_another() -> None:
    with HTTPServerThread() as server, RawClient(server.port) as first, RawClient(server.port) as second:
        first.close_handshake()
        second.send_frame(TEXT, b"alive")
        assert second.read_message().payload == b"alive"


def test_close_timeout_holds_even_when_the_peer_keeps_sending_data() -> None:
    def close_on_message(ws: WebSocket) -> None:
        ws.on("message", lambda event: ws.close() if event.data == "close now" else None)

    with HTTPServerThread(close_on_message, close_timeout=0.5) as server, RawClient(server.port) as raw:
        raw.send_frame(TEXT, b"close now")
        assert raw.read_message().opcode == CLOSE
        started = time.monotonic()
        try:
            while time.monotonic() - started < 4:  # never answer the close, keep the socket busy
                raw.send_frame(TEXT, b"chatter" * 100)
        except OSError:
            pass  # the server cut the connection: that is the point
        (close,) = server.recorded.wait_for("close")
        assert close.code == 1006
        assert time.monotonic() - started < 3


def test_origin_callable_decides_and_one_that_raises_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    def check(origin: str | None) -> bool:
        if origin == "https://boom.example":
            raise RuntimeError("broken check")
        return origin is None or origin.endswith(".good.example")

    with HTTPServerThread(origin=check) as server:
        for origin, status in [("https://a.good.example", 101), ("https://evil.example", 403),
                               (None, 101), ("https://boom.example", 500)]:
            extra = (("Origin", origin),) if origin else ()
            with RawClient(server.port, extra=extra) as raw:
                assert raw.status == status, origin
    assert any("origin check raised" in record.getMessage() for record in caplog.records)


def test_sender_thread_stuck_on_a_peer_that_reads_nothing_times_out_and_closes_with_1006(
        no_leaks: None) -> None:
    gave_up = threading.Event()

    def flood_from_another_thread(ws: WebSocket) -> None:
        def flood() -> None:
            while ws.send(b"z" * 65536):
                pass
            gave_up.set()

        ws.on("open", lambda event: threading.Thread(target=flood, name="flood").start())

    with HTTPServerThread(flood_from_another_thread, send_timeout=0.5) as server, \
            RawClient(server.port) as raw:
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        assert gave_up.wait(10), "send() never gave up on a peer that reads nothing"
        (close,) = server.recorded.wait_for("close")
        assert close.code == 1006
        assert server.recorded.of_type("error"), "the write failure is reported as an error"


def test_close_is_not_held_up_by_a_reader_waiting_for_room_in_the_recv_queue(no_leaks: None) -> None:
    # A recv() user on another thread stops taking messages and closes: the reader, blocked
    # handing a message to the full queue, must not stall the closing handshake until the
    # close timeout.
    took: list[float] = []

    def consume_then_close(ws: WebSocket) -> None:
        reader = threading.Thread(target=ws.run)
        reader.start()
        try:
            ws.recv(timeout=WAIT)  # from now on every message goes to the queue
            deadline = time.monotonic() + WAIT
            while len(ws.connection._queue._items) < 64 and time.monotonic() < deadline:
                time.sleep(0.01)  # until the queue is full and the reader waits for room
            started = time.monotonic()
            ws.close()
            reader.join(WAIT * 2)
            took.append(time.monotonic() - started)
        finally:
            reader.join(WAIT)

    with HTTPServerThread(consume_then_close, close_timeout=WAIT * 2) as server, \
            RawClient(server.port, timeout=WAIT * 3) as raw:
        # The handler's setup() itself runs the reader, so the server's own run() finds it CLOSED.
        queue = server.recorded.wait_socket().connection._queue
        deadline = time.monotonic() + WAIT
        while not queue.enabled and time.monotonic() < deadline:
            time.sleep(0.01)  # recv() is waiting (before that the recording listener takes messages)
        for index in range(100):
            raw.send_frame(TEXT, b"m%d" % index)
        while True:
            frame = raw.read_frame()
            if frame.opcode == CLOSE:
                break
        raw.send_frame(CLOSE, frame.payload)
        raw.expect_eof()
        (close,) = server.recorded.wait_for("close")
        assert isinstance(close, CloseEvent) and close.code == 1000 and close.was_clean
    assert took and took[0] < WAIT / 2, took


def test_close_from_another_thread_before_run_does_not_make_run_fail(no_leaks: None) -> None:
    # The handler is still setting up (no reader yet) when another thread closes the WebSocket;
    # that thread reads until the close event. The handler's run() then used to raise
    # InvalidState ("another thread is already reading") instead of returning.
    in_setup = threading.Event()
    closing = threading.Event()
    outcome: list[object] = []

    def slow_setup(ws: WebSocket) -> None:
        in_setup.set()
        assert closing.wait(WAIT)
        time.sleep(0.2)  # the closing thread is reading now
        try:
            ws.run()
            outcome.append("returned")
        except Exception as error:  # the defect: InvalidState
            outcome.append(error)

    with HTTPServerThread(slow_setup) as server, RawClient(server.port) as raw:
        assert in_setup.wait(WAIT)
        ws = server.recorded.wait_socket()
        closer = threading.Thread(target=ws.close, args=(4000, "bye"))
        closer.start()
        closing.set()
        frame = raw.read_message()
        assert frame.close_code == 4000
        time.sleep(0.4)  # answer only once the handler's run() is waiting
        raw.send_frame(CLOSE, frame.payload)
        raw.expect_eof()
        closer.join(WAIT)
        deadline = time.monotonic() + WAIT
        while not outcome and time.monotonic() < deadline:
            time.sleep(0.01)
        assert outcome == ["returned"]
        assert len(server.recorded.wait_for("close")) == 1


def test_server_close_is_bounded_by_the_grace_when_a_handler_has_not_started_reading(no_leaks: None) -> None:
    # server_close() closes live WebSockets with 1001 and waits at most shutdown_grace. A
    # WebSocket whose handler had not reached run() yet made server_close() read it itself,
    # for up to close_timeout, one connection after another.
    in_setup = threading.Semaphore(0)
    release = threading.Event()
    errors: list[BaseException] = []

    def busy_setup(ws: WebSocket) -> None:
        in_setup.release()
        release.wait(WAIT * 3)
        try:
            ws.run()
        except BaseException as error:
            errors.append(error)
            raise

    server = HTTPServerThread(busy_setup, close_timeout=WAIT * 2)
    with server:
        server.server.shutdown_grace = 0.5
        raws = [RawClient(server.port) for _ in range(3)]  # peers that never answer a close
        for _ in raws:
            assert in_setup.acquire(timeout=WAIT)
        started = time.monotonic()
        server.server.shutdown()
        server.server.server_close()
        took = time.monotonic() - started
        release.set()
        for raw in raws:
            assert raw.read_message().close_code == 1001
            raw.read_until_eof()
            raw.close()
        closes = server.recorded.wait_for("close", 3)
    assert took < 2.0, f"server_close took {took:.1f}s"
    assert {close.code for close in closes if isinstance(close, CloseEvent)} == {1006} and not errors


@pytest.mark.parametrize("server_class", [HTTPServerThread, RawServerThread])
def test_upgrade_completed_after_server_close_is_closed_with_1001(no_leaks: None, server_class: Any) -> None:
    # A client whose head was half written when the server shut down: if the upgrade still
    # completes, that WebSocket must not outlive the server (it used to echo on forever).
    server = server_class()
    with server:
        request, _ = handshake_request()
        with RawClient(server.port, request=request[:20], read_response=False) as raw:
            deadline = time.monotonic() + WAIT
            while server.server.websockets.__len__() == 0 and server_class is RawServerThread \
                    and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.1)  # the handler thread is reading the head
            server.server.shutdown()
            server.server.server_close()
            try:
                raw.send(request[20:])
                raw.read_response()
            except (EOFError, OSError):
                return  # refused outright: fine too
            if raw.status != 101:
                return
            frame = raw.read_message()
            assert frame.opcode == CLOSE and frame.close_code == 1001
            raw.send_frame(CLOSE, close_payload(1001))
            raw.expect_eof()
