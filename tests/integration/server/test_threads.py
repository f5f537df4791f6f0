"""Thread safety of the server-side WebSocket: concurrent senders, close racing sends, many peers."""

from __future__ import annotations

import threading
from typing import Any

from faye_websocket import Client
from faye_websocket.server.websocket import WebSocket
from tests.integration.server_support import (
    BINARY,
    CLOSE,
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    close_payload,
)

SENDERS = 8
Framed = bytes | bytearray | memoryview | None  # what the driver's frame maker returns
PER_SENDER = 150


def test_concurrent_senders_never_interleave_frames_and_keep_each_threads_order() -> None:
    def blast(ws: WebSocket) -> None:
        def sender(number: int) -> None:
            for index in range(PER_SENDER):
                size = (index * 7919) % 70000  # small, 16-bit and 64-bit length frames mixed
                ws.send(f"{number}:{index}:".encode() + b"." * size)

        def start(event: object) -> None:
            threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(WAIT * 4)
            ws.send("done")

        ws.on("open", lambda event: threading.Thread(target=start, args=(event,)).start())

    with HTTPServerThread(blast) as server, RawClient(server.port, timeout=WAIT * 4) as raw:
        next_index = [0] * SENDERS
        while True:
            frame = raw.read_message()
            if frame.opcode == TEXT:
                assert frame.payload == b"done"
                break
            assert frame.opcode == BINARY and frame.fin
            number, index, rest = frame.payload.split(b":", 2)
            assert int(index) == next_index[int(number)], "a sender's messages arrived out of order"
            assert rest == b"." * ((int(index) * 7919) % 70000)
            next_index[int(number)] += 1
        assert next_index == [PER_SENDER] * SENDERS
        raw.close_handshake()


def test_close_racing_with_senders_gives_one_close_event_and_no_frame_after_the_close() -> None:
    sent_false = threading.Event()

    def race(ws: WebSocket) -> None:
        def sender() -> None:
            while ws.send(b"x" * 1000):
                pass
            sent_false.set()

        def start(event: object) -> None:
            for _ in range(4):
                threading.Thread(target=sender).start()
            ws.close(1000, "racing")

        ws.on("open", lambda event: threading.Thread(target=start, args=(event,)).start())

    with HTTPServerThread(race) as server, RawClient(server.port) as raw:
        while True:
            frame = raw.read_frame()
            if frame.opcode == CLOSE:
                break
        raw.send_frame(CLOSE, close_payload(1000))
        raw.expect_eof()  # nothing after the close frame
        assert sent_false.wait(WAIT)
        server.recorded.wait_for("close")
        assert len(server.recorded.of_type("close")) == 1


def test_a_close_between_the_readers_framing_and_its_write_comes_last() -> None:
    # A server without extensions frames the reader's reply without the connection's lock, then
    # takes the write lock. A close() on another thread that finishes in between (its close
    # frame written) must leave that reply unwritten: nothing may follow a close frame
    # (RFC 6455 section 5.5.1). The framing is wrapped to run that close() at that very point.
    sent: list[bool] = []

    def close_after_framing(ws: WebSocket) -> None:
        connection = ws.connection
        frame = connection._frame_alone
        assert frame is not None  # no extension: the reply is framed without the lock

        def frame_then_close(data: str | bytes | bytearray | memoryview) -> Framed:
            framed = frame(data)
            closer = threading.Thread(target=ws.close, args=(1000, "racing"))
            closer.start()
            closer.join(WAIT)  # its close frame is written: the write lock was free
            return framed

        connection._frame_alone = frame_then_close
        ws.on("message", lambda event: sent.append(ws.send(event.data)))

    with HTTPServerThread(close_after_framing) as server, RawClient(server.port) as raw:
        raw.send_frame(TEXT, b"in flight")
        frame = raw.read_frame()
        assert (frame.opcode, frame.close_code) == (CLOSE, 1000)
        raw.send_frame(CLOSE, close_payload(1000))
        raw.expect_eof()  # and not the echo after the close frame
        server.recorded.wait_for("close")
    assert sent == [False]


def test_a_hundred_concurrent_connections_each_get_their_own_echo() -> None:
    with HTTPServerThread() as server:
        clients = [RawClient(server.port) for _ in range(100)]
        try:
            for number, client in enumerate(clients):
                client.send_frame(TEXT, f"client {number}".encode())
            for number, client in enumerate(clients):
                assert client.read_message().payload == f"client {number}".encode()
            for client in clients:
                client.send_frame(CLOSE, close_payload(1000))
            for client in clients:
                assert client.read_message().close_code == 1000
        finally:
            for client in clients:
                client.close()
        server.recorded.wait_for("close", 100)


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
        assert opened.wait(WAIT * 3)  # the handshake competes with the other workers' tests for the cores
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
