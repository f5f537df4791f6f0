"""500 concurrent event streams from one ThreadingHTTPServer: one watcher thread for all of them,
every disconnect noticed, and threads and file descriptors back to their baseline afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from faye_websocket.events import CloseEvent
from faye_websocket.eventsource.watcher import WATCHER
from faye_websocket.eventsource.writer import EventSource
from tests.integration.components import assert_no_leaks, thread_count
from tests.integration.eventsource_support import open_stream, read_to_eof, read_until, serving

STREAMS = 500
OPEN_DEADLINE = 30.0  # seconds for 500 connects on a shared 2-core machine (about 1 s when idle)


class Registry:
    """The open streams and a count of close events, with a condition to wait on."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.streams: list[EventSource] = []
        self.closed = 0

    def stream(self, handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, ping=60, retry=None)
        es.on("close", self._on_close)
        with self.condition:
            self.streams.append(es)
            self.condition.notify_all()
        # Returning is fine: the handler's finish waits for the stream to close.

    def _on_close(self, event: CloseEvent) -> None:
        with self.condition:
            self.closed += 1
            self.condition.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.condition:
            return self.condition.wait_for(predicate, timeout)


def test_500_concurrent_streams_are_served_watched_and_released() -> None:
    registry = Registry()
    with assert_no_leaks(timeout=10.0), serving(registry.stream) as server:
        baseline_threads = thread_count()
        started = time.monotonic()
        clients = [open_stream(server.port, f"/s{n}", timeout=OPEN_DEADLINE) for n in range(STREAMS)]
        try:
            assert registry.wait_for(lambda: len(registry.streams) == STREAMS, OPEN_DEADLINE)
            opened = time.monotonic() - started
            # One handler thread per connection (http.server's model) plus ONE shared watcher.
            assert thread_count() <= baseline_threads + STREAMS + 1
            assert WATCHER.running()

            started = time.monotonic()
            for n, es in enumerate(registry.streams):
                assert es.send(f"hello {n}", id=n)
            for sock in clients:
                read_until(sock, b"data: hello", timeout=10)
            broadcast = time.monotonic() - started
        finally:
            started = time.monotonic()
            for sock in clients:
                sock.close()
        assert registry.wait_for(lambda: registry.closed == STREAMS, 20), f"{registry.closed} closed"
        detected = time.monotonic() - started
    print(f"\n{STREAMS} streams: opened in {opened:.2f} s, broadcast read in {broadcast:.2f} s, "
          f"all disconnects noticed in {detected:.2f} s")
    deadline = time.monotonic() + 5  # the watcher ends IDLE_LINGER after its last stream
    while WATCHER.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not WATCHER.running()


def test_server_closing_streams_ends_each_connection_and_releases_everything() -> None:
    registry = Registry()
    count = 50
    with assert_no_leaks(timeout=10.0), serving(registry.stream) as server:
        clients = [open_stream(server.port, timeout=10) for _ in range(count)]
        try:
            assert registry.wait_for(lambda: len(registry.streams) == count, 10)
            for es in registry.streams:
                es.close()
            for sock in clients:
                assert read_to_eof(sock).startswith(b"HTTP/1.1 200 OK\r\n")  # the server's FIN arrives
        finally:
            for sock in clients:
                sock.close()
        assert registry.closed == count
