"""The watcher's WATCH_DELAY: a stream's socket joins the selector only once the stream has lived
that long (or at its first ping), so short streams never touch it, while a reader that leaves a
longer one is still noticed and pings still go out on time. A fresh StreamWatcher on real
loopback TCP sockets, with a stream that records what the watcher does."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from faye_websocket.eventsource import watcher as watcher_module
from faye_websocket.eventsource.watcher import IDLE_LINGER, WATCH_BATCH, StreamWatcher
from faye_websocket.eventsource.writer import peer_gone
from tests.integration.components import assert_no_leaks

WAIT = 5.0  # seconds any expected event may take on a loaded machine


class Probe:
    """A watched stream on the server end of a loopback connection (``Watched``)."""

    def __init__(self, server_end: socket.socket, watcher: StreamWatcher, ping: float | None) -> None:
        self.sock = server_end
        self.watcher = watcher
        self.ping = ping
        self.gone = threading.Event()  # the watcher saw the reader leave
        self.pinged: list[float] = []  # monotonic times of the ping timer
        self.pinged_once = threading.Event()

    def watch_fileno(self) -> int:
        return self.sock.fileno()

    def on_readable(self) -> None:
        if peer_gone(self.sock):
            self.watcher.remove(self)
            self.gone.set()

    def on_ping_timer(self, now: float) -> float | None:
        self.pinged.append(now)
        self.pinged_once.set()
        return None  # one ping is enough here


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(client, server end) of one loopback TCP connection, closed afterwards."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=WAIT)
        server_end, _ = listener.accept()
    with client, server_end:
        yield client, server_end


def wait_until_idle(watcher: StreamWatcher) -> None:
    deadline = time.monotonic() + IDLE_LINGER + WAIT
    while watcher.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not watcher.running(), "the watcher thread outlived its last stream"


def test_a_stream_closed_before_its_watch_delay_never_joins_the_selector(
        pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watcher_module, "WATCH_DELAY", 60.0)
    watcher = StreamWatcher()
    with assert_no_leaks():
        probe = Probe(pair[1], watcher, None)
        watcher.add(probe, None)
        assert watcher.running()  # started at once: it must be there when the stream falls due
        assert not watcher.watching(probe)
        watcher.remove(probe)
        assert not watcher.watching(probe)
        wait_until_idle(watcher)  # nothing left: the thread ends and its descriptors go


def test_a_stream_still_open_at_its_watch_delay_is_watched_and_its_reader_leaving_noticed(
        pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch) -> None:
    delay = 0.5 + WATCH_BATCH
    monkeypatch.setattr(watcher_module, "WATCH_DELAY", delay)
    watcher = StreamWatcher()
    client, server_end = pair
    probe = Probe(server_end, watcher, None)
    added = time.monotonic()
    watcher.add(probe, None)
    try:
        deadline = added + delay + WAIT
        while not watcher.watching(probe) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watcher.watching(probe)
        assert time.monotonic() - added >= delay - WATCH_BATCH  # not before its batch
        client.close()  # the reader leaves while nothing is written
        assert probe.gone.wait(WAIT), "the departure of a watched stream's reader was not noticed"
    finally:
        watcher.remove(probe)
    wait_until_idle(watcher)


def test_a_first_ping_before_the_watch_delay_is_on_time(
        pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watcher_module, "WATCH_DELAY", 60.0)
    watcher = StreamWatcher()
    probe = Probe(pair[1], watcher, 0.2)
    first_ping = time.monotonic() + 0.2
    watcher.add(probe, first_ping)
    try:
        assert probe.pinged_once.wait(WAIT), "the first ping did not fire"
        assert probe.pinged[0] >= first_ping  # never early
        assert watcher.watching(probe)  # watched from its first ping on, long before WATCH_DELAY
    finally:
        watcher.remove(probe)
    wait_until_idle(watcher)


def test_many_short_streams_share_one_thread_and_leave_nothing_behind(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watcher_module, "WATCH_DELAY", 60.0)
    watcher = StreamWatcher()
    with assert_no_leaks(), socket.create_server(("127.0.0.1", 0)) as listener:
        for _ in range(50):
            with socket.create_connection(listener.getsockname(), timeout=WAIT):
                server_end, _ = listener.accept()
                with server_end:
                    probe = Probe(server_end, watcher, 10.0)
                    watcher.add(probe, time.monotonic() + 10.0)
                    watcher.remove(probe)
                    assert not watcher.watching(probe)
        wait_until_idle(watcher)
