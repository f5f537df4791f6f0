"""recv() on the server-side WebSocket over real sockets: a loop without run(), polling with timeout
0, messages that arrived before the first call, and recv() on one thread while run() or another
recv() reads on others."""

from __future__ import annotations

import threading
import time

import pytest
from websockets.sync.client import connect

from faye_websocket.connection.roles import Role
from faye_websocket.errors import ConnectionClosed
from faye_websocket.server.websocket import WebSocket
from tests.integration.server_support import (
    CLOSE,
    PING,
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    client_frame,
)


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


def test_recv_with_timeout_zero_returns_a_message_already_waiting_in_the_socket(no_leaks: None) -> None:
    # A poll-style loop (recv(timeout=0), then other work) must get messages that have arrived;
    # recv(0) used to give up before reading the socket at all.
    got: list[str | bytes] = []
    arrived = threading.Event()

    def poll(ws: WebSocket) -> None:
        assert arrived.wait(WAIT)
        time.sleep(0.1)  # the frame is in the socket's buffer now
        try:
            got.append(ws.recv(timeout=0))
        finally:
            ws.close()

    with HTTPServerThread(poll) as server, RawClient(server.port) as raw:
        raw.send_frame(TEXT, b"waiting")
        arrived.set()
        frame = raw.read_message()
        assert frame.opcode == CLOSE
        raw.send_frame(CLOSE, frame.payload)
        raw.expect_eof()
        server.recorded.wait_for("close")
    assert got == ["waiting"]


def test_run_started_on_a_thread_while_another_recvs_never_fails_or_stalls(no_leaks: None) -> None:
    # The documented pattern: run() on a thread, recv() on another. recv() used to win the read
    # lock first now and then (run() then raised InvalidState), or to find run() holding the
    # lock before it had switched to the queue (recv() then timed out on a live connection).
    outcomes: list[object] = []

    def reader_and_receiver(ws: WebSocket) -> None:
        failures: list[BaseException] = []

        def run() -> None:
            try:
                ws.run()
            except BaseException as error:
                failures.append(error)

        reader = threading.Thread(target=run)
        reader.start()
        try:
            outcomes.append(ws.recv(timeout=WAIT))
        except BaseException as error:
            outcomes.append(error)
        reader.join(WAIT)
        outcomes.extend(failures)

    with HTTPServerThread(reader_and_receiver) as server:
        for index in range(15):
            with RawClient(server.port) as raw:
                server.recorded.wait_for("open", index + 1)
                connection = server.recorded.sockets[index].connection
                deadline = time.monotonic() + WAIT
                while not (connection._queue.enabled or connection._reader_role is Role.RECV) \
                        and time.monotonic() < deadline:
                    time.sleep(0.001)  # recv() is waiting (before that a listener takes messages)
                raw.send_frame(TEXT, b"hello %d" % index)
                raw.close_handshake()
            deadline = time.monotonic() + WAIT
            while len(outcomes) < index + 1 and time.monotonic() < deadline:
                time.sleep(0.01)
    assert outcomes == [f"hello {index}" for index in range(15)]


def test_recv_already_reading_hands_the_socket_over_to_run_and_loses_nothing(no_leaks: None) -> None:
    got: list[str | bytes] = []
    reading = threading.Event()
    receiver_done = threading.Event()
    run_outcome: list[object] = []

    def receive_first(ws: WebSocket) -> None:
        def receiver() -> None:
            try:
                got.extend(ws.recv(timeout=WAIT) for _ in range(3))
            finally:
                receiver_done.set()

        threading.Thread(target=receiver).start()
        deadline = time.monotonic() + WAIT
        while ws.connection._reader_role is not Role.RECV and time.monotonic() < deadline:
            time.sleep(0.01)
        reading.set()
        try:
            ws.run()  # while recv() reads on the other thread
            run_outcome.append("returned")
        except Exception as error:
            run_outcome.append(error)

    with HTTPServerThread(receive_first) as server, RawClient(server.port) as raw:
        assert reading.wait(WAIT)
        time.sleep(0.1)  # run() is waiting for the socket now
        raw.send(client_frame(TEXT, b"one") + client_frame(TEXT, b"two"))  # one read, two messages
        time.sleep(0.2)
        raw.send_frame(TEXT, b"three")  # read by run(), queued for recv()
        assert receiver_done.wait(WAIT)
        raw.close_handshake()
        assert len(server.recorded.wait_for("close")) == 1
    assert got == ["one", "two", "three"] and run_outcome == ["returned"]


def test_two_threads_calling_recv_get_every_message_once_and_then_connection_closed(no_leaks: None) -> None:
    got: list[str | bytes] = []
    errors: list[BaseException] = []

    def two_receivers(ws: WebSocket) -> None:
        def receive() -> None:
            try:
                for message in ws:  # recv() until ConnectionClosed
                    got.append(message)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=receive) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT * 2)

    with HTTPServerThread(two_receivers) as server, RawClient(server.port) as raw:
        for burst in range(20):
            raw.send(b"".join(client_frame(TEXT, b"%d" % (burst * 10 + n)) for n in range(10)))
        raw.close_handshake()
        server.recorded.wait_for("close")
    assert not errors
    assert sorted(int(message) for message in got) == list(range(200))


def test_run_and_close_treat_a_recv_on_its_way_to_reading_as_a_reader() -> None:
    # recv() takes the free read lock without the connection's lock and sets its role just
    # after (and clears it just before giving the lock back): in between, run() must wait for
    # it (not raise InvalidState), and a close() from another thread must leave the close to the
    # readers (not wait for the read lock).
    outcomes: list[object] = []

    def recv_on_its_way(ws: WebSocket) -> None:
        connection = ws.connection
        assert connection._read_lock.acquire(timeout=WAIT)  # the window: held, no role yet
        assert connection._reader_role is None

        def run() -> None:
            try:
                ws.run()
                outcomes.append("returned")
            except BaseException as error:
                outcomes.append(error)

        reader = threading.Thread(target=run)
        reader.start()
        deadline = time.monotonic() + WAIT
        while not connection._reader_thread_mode and time.monotonic() < deadline:
            time.sleep(0.001)  # run() has seen the read lock held and waits for it
        outcomes.append(connection._reader_thread_mode)
        ws.close()  # returns at once: a reader is on its way (it would read until closed)
        outcomes.append(ws.ready_state.name)
        connection._read_lock.release()  # the recv() leaves (it would hand over to run())
        reader.join(WAIT)

    with HTTPServerThread(recv_on_its_way) as server, RawClient(server.port) as raw:
        frame = raw.read_message()
        assert frame.opcode == CLOSE
        raw.send_frame(CLOSE, frame.payload)
        raw.expect_eof()
        server.recorded.wait_for("close")
    assert outcomes == [True, "CLOSING", "returned"]
