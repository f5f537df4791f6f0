"""ServiceThread: started when there is work, woken through its socket pair, retried after a refused start."""

from __future__ import annotations

import select
import socket
import threading

import pytest

from faye_websocket.net.wakeup import ServiceThread, drain_wakeups
from tests.leaks import assert_no_leaks

WAIT = 5.0  # seconds: every wait here ends long before


class Service:
    """A body that counts its wake-ups and ends when told to."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread = ServiceThread("test-service", self.lock, self.body)
        self.woken = threading.Event()
        self.stop = False

    def body(self, wake_r: socket.socket) -> None:
        poller = select.poll()
        poller.register(wake_r, select.POLLIN)
        while True:
            with self.lock:
                if self.stop:
                    self.thread.finish()
                    return
            if poller.poll(int(WAIT * 1000)):
                drain_wakeups(wake_r)
                self.woken.set()


def test_start_then_wake_then_finish_leaves_nothing_behind() -> None:
    service = Service()
    with assert_no_leaks():
        with service.lock:
            service.thread.start_or_wake()  # starts
            assert service.thread.running()
        with service.lock:
            service.thread.start_or_wake()  # wakes
        assert service.woken.wait(WAIT)
        with service.lock:
            service.stop = True
            service.thread.start_or_wake()
    assert not service.thread.running()


def test_a_refused_start_raises_keeps_nothing_and_the_next_call_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    real_start = threading.Thread.start
    refused: list[str] = []

    def start(self: threading.Thread) -> None:
        if self.name == "test-service" and not refused:
            refused.append(self.name)
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    with assert_no_leaks():
        with service.lock, pytest.raises(RuntimeError):
            service.thread.start_or_wake()
        assert not service.thread.running()  # no half-started thread: the pair was closed too
        with service.lock:
            service.thread.start_or_wake()
            assert service.thread.running()
        with service.lock:
            service.stop = True
            service.thread.start_or_wake()
    assert refused == ["test-service"]
