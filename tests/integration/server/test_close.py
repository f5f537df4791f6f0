"""Closing, deadlines, threads and errors of the server-side WebSocket, over real sockets."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed as PeerClosed
from websockets.sync.client import connect

from faye_websocket.errors import ConnectionClosed
from faye_websocket.server.websocket import WebSocket
from tests.integration.server_support import (
    CLOSE,
    PING,
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    RawServerThread,
    client_frame,
    close_payload,
    echo,
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
        stopped = time.monotonic()
        server.__exit__(None, None, None)
        assert time.monotonic() - stopped < 3
        with pytest.raises(PeerClosed) as caught:
            client.recv(timeout=WAIT)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1001


def test_client_that_sends_half_a_request_is_dropped_after_the_handshake_timeout(no_leaks: None) -> None:
    with RawServerThread(handshake_timeout=0.3) as server:
        raw = RawClient(server.port, request=b"GET / HTTP/1.1\r\nHost: x\r\n", read_response=False)
        started = time.monotonic()
        assert raw.read_until_eof() == b""
        assert time.monotonic() - started < 3
        (close,) = server.recorded.wait_for("close")
        assert close.code == 1006
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


def test_close_refuses_codes_browsers_refuse_and_long_reasons() -> None:
    with HTTPServerThread() as server, RawClient(server.port):
        ws = server.recorded.wait_socket()
        for code in (999, 1001, 1006, 2999, 5000):
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


def test_handler_can_loop_on_recv_without_run_and_the_loop_ends_at_close(no_leaks: None) -> None:
    received: list[str | bytes] = []
    finished = threading.Event()

    def recv_loop(ws: WebSocket) -> None:
        for message in ws:
            received.append(message)
            ws.send(message)
        finished.set()

    with HTTPServerThread(recv_loop) as server, connect(server.url(), open_timeout=WAIT) as client:
        for text in ("a", "b", "c"):
            client.send(text)
            assert client.recv(timeout=WAIT) == text
        client.close()
        assert finished.wait(WAIT)
    assert received == ["a", "b", "c"]


def test_recv_from_another_thread_takes_messages_from_the_running_reader() -> None:
    with HTTPServerThread(lambda ws: None) as server, RawClient(server.port) as raw:
        ws = server.recorded.wait_socket()
        server.recorded.wait_for("open")
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.05)  # enables the queue; nothing there yet
        raw.send_frame(TEXT, b"queued")
        assert ws.recv(timeout=WAIT) == "queued"
        raw.close_handshake()
        with pytest.raises(ConnectionClosed) as caught:
            ws.recv(timeout=WAIT)
        assert caught.value.code == 1000


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


def ignore_messages(ws: WebSocket) -> None:
    ws.off("message")  # the recorder's listener too: nobody takes message events


def test_recv_gets_messages_that_arrived_before_it_was_first_called_when_nobody_listens() -> None:
    with HTTPServerThread(ignore_messages) as server, RawClient(server.port) as raw:
        raw.send(client_frame(TEXT, b"first") + client_frame(TEXT, b"second"))
        raw.send_frame(PING, b"sync")
        assert raw.read_frame().payload == b"sync"  # the server has read both messages by now
        ws = server.recorded.wait_socket()
        assert ws.recv(timeout=WAIT) == "first"
        assert ws.recv(timeout=WAIT) == "second"
        raw.close_handshake()


def test_a_reader_that_nobody_recvs_from_never_stalls_on_ignored_messages() -> None:
    with HTTPServerThread(ignore_messages) as server, RawClient(server.port) as raw:
        raw.send(b"".join(client_frame(TEXT, b"ignored") for _ in range(500)))
        raw.send_frame(PING, b"still reading?")
        assert raw.read_frame().payload == b"still reading?"
        assert raw.close_handshake().close_code == 1000
