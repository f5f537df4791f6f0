"""EventSource under exhaustion: a reader that stops reading is cut at ``send_timeout`` even
without pings, and the shared watcher survives a thread start the process refused."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from faye_websocket.eventsource.watcher import THREAD_NAME, WATCHER
from faye_websocket.eventsource.writer import EventSource
from tests.integration.components import assert_no_leaks
from tests.integration.eventsource.test_writer import Streams
from tests.integration.eventsource_support import open_stream, read_until, serving

SEND_TIMEOUT = 0.5
WAIT = 5.0


def test_a_stalled_reader_is_cut_at_send_timeout_without_pings() -> None:
    streams = Streams()
    results: list[bool] = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = streams.adopt(EventSource.from_handler(handler, ping=None, send_timeout=SEND_TIMEOUT))
        while es.send("z" * 65536):
            pass
        results.append(False)

    with assert_no_leaks(), serving(stream) as server, open_stream(server.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
        started = time.monotonic()
        assert streams.closed.wait(WAIT), "a reader that stopped reading was never cut"
        elapsed = time.monotonic() - started
    assert SEND_TIMEOUT <= elapsed < SEND_TIMEOUT + 3.0, elapsed
    assert results == [False]


@pytest.fixture
def refuse_one_watcher_start(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The next start of the watcher thread fails as at the process's thread limit; the event
    is set once it has."""
    refused = threading.Event()
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name == THREAD_NAME and not refused.is_set():
            refused.set()
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    yield refused


def test_the_watcher_survives_a_refused_thread_start_and_then_watches_every_stream(
        refuse_one_watcher_start: threading.Event) -> None:
    streams = Streams()
    # The watcher of an earlier test ends IDLE_LINGER after its last stream: wait for that.
    deadline = time.monotonic() + WAIT
    while WATCHER.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not WATCHER.running(), "another test left the watcher running"

    def stream(handler: BaseHTTPRequestHandler) -> None:
        streams.adopt(EventSource.from_handler(handler, ping=0.2, retry=None))

    with assert_no_leaks(), serving(stream) as server:
        first = open_stream(server.port)
        assert refuse_one_watcher_start.wait(WAIT), "the first stream never asked for the watcher"
        assert not WATCHER.running()
        second = open_stream(server.port)  # this stream's add() starts the thread, for both
        read_until(second, b"\r\n\r\n")
        for sock in (first, second):
            read_until(sock, b":\r\n\r\n")  # pinged by the watcher: the first stream too
        first.close()  # and each departure is noticed without a write
        second.close()
        deadline = time.monotonic() + WAIT
        while len(streams.closes) < 2 and time.monotonic() < deadline:
            streams.closed.wait(0.05)
            streams.closed.clear()
        assert len(streams.closes) == 2, streams.closes
