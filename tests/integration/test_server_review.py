"""Review of the blocking I/O layer and the server side: threads, deadlines, resource release.

Each test here was written against a defect found in review (it failed before the fix): real
loopback sockets, our own endpoints on both sides where two faye_websocket peers would meet.
"""

from __future__ import annotations

import gc
import importlib.util
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from faye_websocket import Client
from faye_websocket.connection.watchdog import Watchdog
from faye_websocket.events import CloseEvent
from faye_websocket.server.websocket import WebSocket
from tests.integration.server_support import (
    CLOSE,
    PONG,
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    RawServerThread,
    client_frame,
    close_payload,
    handshake_request,
)
from tests.paths import EXAMPLES

# -- recv() ------------------------------------------------------------------------------------


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
                while not (connection._queue.enabled or connection._direct_reading) \
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
        while not ws.connection._direct_reading and time.monotonic() < deadline:
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


# -- writers and the reader ----------------------------------------------------------------------


def test_two_of_our_peers_sending_big_messages_from_several_threads_do_not_deadlock(no_leaks: None) -> None:
    # Each side has several threads sending multi-megabyte messages at once. The reader must go on
    # reading while other threads' frames wait for the write lock; it used to stop once they
    # queued over 1 MiB, so both readers stopped, both writers stalled and both sides failed
    # with 1006 at send_timeout.
    size, per_thread, threads = 1 << 20, 4, 3
    total = per_thread * threads
    server_got: list[int] = []
    server_sent: list[bool] = []
    all_in = threading.Event()

    def blast(ws: WebSocket) -> None:
        def on_message(event: Any) -> None:
            server_got.append(len(event.data))
            if len(server_got) == total:
                all_in.set()

        def sender() -> None:
            for _ in range(per_thread):
                server_sent.append(ws.send(b"s" * size))

        def on_open(event: Any) -> None:
            for _ in range(threads):
                threading.Thread(target=sender).start()

        ws.on("message", on_message)
        ws.on("open", on_open)

    client_got: list[int] = []
    client_all_in = threading.Event()
    with HTTPServerThread(blast, send_timeout=8) as server:
        client = Client(server.url(), send_timeout=8)
        opened = threading.Event()
        closed: list[Any] = []
        client.onopen = lambda event: opened.set()
        client.onclose = lambda event: closed.append(event)

        def on_client_message(event: Any) -> None:
            client_got.append(len(event.data))
            if len(client_got) == total:
                client_all_in.set()

        client.onmessage = on_client_message
        assert opened.wait(WAIT)
        client_sent: list[bool] = []

        def client_sender() -> None:
            for _ in range(per_thread):
                client_sent.append(client.send(b"c" * size))

        senders = [threading.Thread(target=client_sender) for _ in range(threads)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join(WAIT * 4)
        assert all_in.wait(WAIT * 3), (closed, len(server_got), len(client_got))
        assert client_all_in.wait(WAIT * 3), (closed, len(server_got), len(client_got))
        assert client_sent == [True] * total and server_sent == [True] * total
        client.close()
        client.run()
        assert closed[0].code == 1000


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


# -- close() from another thread while nobody reads ---------------------------------------------


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


@pytest.mark.parametrize("server_class", [HTTPServerThread, RawServerThread])
def test_upgrade_request_with_a_body_is_refused_with_400_not_parsed_as_frames(
        no_leaks: None, server_class: Any) -> None:
    # RFC 9110 section 7.8: the new protocol begins after the whole request message, content
    # included. The body used to be read as WebSocket frames (here: a 101, then a 1002 failure).
    head, _ = handshake_request(extra=(("Content-Length", "5"),))
    with server_class() as server, \
            RawClient(server.port, request=head, trailing=b"hello" + client_frame(TEXT, b"x")) as raw:
        assert raw.status == 400, raw.head
        raw.read_until_eof()
    chunked, _ = handshake_request(extra=(("Transfer-Encoding", "chunked"),))
    with server_class() as server, RawClient(server.port, request=chunked, trailing=b"0\r\n\r\n") as raw:
        assert raw.status == 400, raw.head
    zero, _ = handshake_request(extra=(("Content-Length", "0"),))  # some devices send it
    with server_class() as server, RawClient(server.port, request=zero) as raw:
        assert raw.status == 101
        raw.close_handshake()


# -- bookkeeping that must not grow -----------------------------------------------------------


def test_watchdog_forgets_a_connection_once_it_has_closed(no_leaks: None) -> None:
    # Every close() from another thread while a reader runs schedules a watchdog wake-up at the
    # close deadline. With a long close_timeout and many closes, the watchdog's heap held every
    # entry until its deadline (and one per repeated close() call).
    watchdog = Watchdog.instance()
    before = len(watchdog._heap)
    with HTTPServerThread(close_timeout=600.0) as server:
        for index in range(20):
            with RawClient(server.port) as raw:
                server.recorded.wait_for("open", index + 1)
                ws = server.recorded.sockets[index]
                ws.close()
                ws.close()
                frame = raw.read_message()
                raw.send_frame(CLOSE, frame.payload)
                raw.expect_eof()
                server.recorded.wait_for("close", index + 1)
    assert len(watchdog._heap) - before <= 2, len(watchdog._heap) - before


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


def test_handlers_that_raise_after_the_upgrade_leave_nothing_in_the_servers_tracker(no_leaks: None) -> None:
    # A handler that fails between from_handler() (or setup_websocket) and run() never
    # dispatches a close event; the server's tracker used to keep such WebSockets forever.
    class Broken(Exception):
        pass

    def fail(ws: WebSocket) -> None:
        raise Broken("the application failed")

    for server_class in (HTTPServerThread, RawServerThread):
        with server_class(fail) as server:
            server.server.handle_error = lambda request, address: None  # expected failures
            for _ in range(5):
                with RawClient(server.port, read_response=False) as raw:
                    raw.read_until_eof()
            server.recorded.sockets.clear()
            deadline = time.monotonic() + WAIT
            while len(server.server.websockets) and time.monotonic() < deadline:
                gc.collect()  # the failed handler threads are finishing; then nothing refers to them
                time.sleep(0.05)
            assert len(server.server.websockets) == 0, server_class.__name__


def test_connect_command_reports_a_server_that_closes_instead_of_replying(no_leaks: None) -> None:
    # `python -m faye_websocket connect URL MESSAGE` against a server that closes at once: a
    # one-line error and status 1, not a ConnectionClosed traceback.
    def close_at_once(ws: WebSocket) -> None:
        ws.on("message", lambda event: ws.close(4000, "no replies here"))

    with HTTPServerThread(close_at_once) as server:
        done = subprocess.run([sys.executable, "-m", "faye_websocket", "connect", server.url(), "hello"],
                              capture_output=True, text=True, timeout=20, cwd=EXAMPLES.parent)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "4000" in done.stderr, done.stderr


# -- the demo's static files -------------------------------------------------------------------


def _demo_module() -> Any:
    spec = importlib.util.spec_from_file_location("demo_server_review", EXAMPLES / "server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_directory_index_that_is_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    module = _demo_module()
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret.html").write_text("secret")
    (root / "sub" / "ws.html").symlink_to(tmp_path / "secret.html")
    assert module.resolve_static(root, "/sub/") == (403, None)
    assert module.resolve_static(root, "/sub") == (403, None)


def test_demo_file_name_too_long_for_the_file_system_is_a_404(tmp_path: Path) -> None:
    # ENAMETOOLONG is not one of the errors pathlib's is_dir()/is_file() swallow: the handler
    # used to die with a traceback and no response.
    module = _demo_module()
    assert module.resolve_static(tmp_path, "/" + "a" * 300) == (404, None)
    assert module.resolve_static(tmp_path, "/" + "a/" * 3000 + "x") == (404, None)

