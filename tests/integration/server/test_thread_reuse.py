"""Handler threads reused for later connections (``idle_thread_timeout``): one connection per
thread at a time, bounded waits, nothing left after ``server_close()``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from faye_websocket.cli.serve import ServeServer
from faye_websocket.server.http_server import WebSocketHTTPServer
from faye_websocket.server.websocket import WebSocket
from tests.integration.server_support import WAIT, RawClient
from tests.leaks import assert_no_leaks

CONCURRENT = 6


class Served:
    """What the handlers saw: the thread of each connection, and how many are open at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.open = threading.Semaphore(0)  # released once per connection opened


def handler_for(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with served.lock:
                served.threads.append(threading.current_thread())
            ws = WebSocket.from_handler(self)
            ws.on("message", lambda event: ws.send(event.data))
            served.open.release()
            ws.run()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serving(served: Served, **settings: Any) -> Iterator[WebSocketHTTPServer]:
    server = WebSocketHTTPServer(("127.0.0.1", 0), handler_for(served))
    for name, value in settings.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-server")
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
        time.sleep(0.01)


def one_connection(port: int) -> None:
    with RawClient(port) as raw:
        assert raw.status == 101
        raw.close_handshake()


def test_a_later_connection_is_served_by_the_thread_of_one_that_ended() -> None:
    served = Served()
    with assert_no_leaks(timeout=WAIT), serving(served, idle_thread_timeout=WAIT * 4) as server:
        port = int(server.server_address[1])
        one_connection(port)
        wait_until(lambda: server.idle_threads == 1, "the handler thread waits for the next connection")
        one_connection(port)
        wait_until(lambda: server.idle_threads == 1, "the handler thread waits again")
        assert len(served.threads) == 2 and served.threads[0] is served.threads[1]
        assert server.active_connections == 0  # the admission count still sees each one end
    # server_close() woke the waiting thread and joined it: assert_no_leaks saw no thread left.
    assert not served.threads[0].is_alive()


def test_concurrent_connections_each_have_their_own_thread() -> None:
    served = Served()
    with serving(served, idle_thread_timeout=WAIT * 4) as server:
        port = int(server.server_address[1])
        one_connection(port)  # leaves one idle thread: the first of the next connections takes it
        wait_until(lambda: server.idle_threads == 1, "an idle thread")
        clients = [RawClient(port) for _ in range(CONCURRENT)]
        try:
            for _ in range(CONCURRENT + 1):  # the first connection's release, then ours
                assert served.open.acquire(timeout=WAIT)
            live = served.threads[1:]
            assert len(live) == CONCURRENT and len(set(map(id, live))) == CONCURRENT
            assert served.threads[0] in live  # the idle thread took one of them
            for client in clients:  # every connection is served while all are open
                client.send_frame(0x1, b"ping")
                assert client.read_message().payload == b"ping"
        finally:
            for client in clients:
                client.close_handshake()
                client.close()
        wait_until(lambda: server.idle_threads == CONCURRENT, "every thread waits after its connection")


def test_an_idle_thread_ends_after_the_idle_timeout() -> None:
    served = Served()
    with serving(served, idle_thread_timeout=0.1) as server:
        one_connection(int(server.server_address[1]))
        wait_until(lambda: bool(served.threads) and not served.threads[0].is_alive(),
                   "the idle thread ends after 0.1 s")
        assert server.idle_threads == 0


def test_at_most_max_idle_threads_wait() -> None:
    served = Served()
    with serving(served, idle_thread_timeout=WAIT * 4, max_idle_threads=2) as server:
        port = int(server.server_address[1])
        clients = [RawClient(port) for _ in range(4)]
        for client in clients:
            client.close_handshake()
            client.close()
        wait_until(lambda: sum(thread.is_alive() for thread in served.threads) == 2,
                   "the threads beyond max_idle_threads end")
        assert server.idle_threads == 2


def test_off_by_default_a_new_thread_per_connection() -> None:
    served = Served()
    with serving(served) as server:
        port = int(server.server_address[1])
        one_connection(port)
        wait_until(lambda: not served.threads[0].is_alive(), "the first handler thread ends")
        one_connection(port)
        assert served.threads[0] is not served.threads[1] and server.idle_threads == 0


def test_the_command_line_server_reuses_threads() -> None:
    assert ServeServer.idle_thread_timeout and ServeServer.idle_thread_timeout > 0
