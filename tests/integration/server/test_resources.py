"""Resource bounds of the server: memory with a peer that stops reading, fds and threads over
thousands of connections. The server runs in this process, so /proc/self is the server."""

from __future__ import annotations

import gc
import socket
import threading
import time

import pytest

from faye_websocket.connection.watchdog import Watchdog
from faye_websocket.server.websocket import WebSocket
from tests.integration.components import open_fd_count, thread_count
from tests.integration.server_support import (
    CLOSE,
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    RawServerThread,
    close_payload,
)

MIB = 1 << 20
TOTAL_TO_SEND = 64 * MIB  # the original's "echo server runs out of RAM" report sent about this much


def rss_bytes() -> int:
    """This process's resident set size (VmRSS in /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


class PeakSampler:
    """Samples RSS every few milliseconds on a thread until stopped; keeps the peak."""

    def __init__(self) -> None:
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler")

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(WAIT)


def test_peer_that_stops_reading_blocks_the_sender_instead_of_growing_server_memory() -> None:
    result: dict[str, object] = {}
    done = threading.Event()
    chunk = b"\x5a" * MIB

    def flood(ws: WebSocket) -> None:
        def send_all(event: object) -> None:
            sent = 0
            while sent < TOTAL_TO_SEND and ws.send(chunk):
                sent += len(chunk)
            result["sent"] = sent
            done.set()

        ws.on("message", send_all)

    with HTTPServerThread(flood, send_timeout=1.0, close_timeout=1.0) as server:
        raw = RawClient(server.port)
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        before = rss_bytes()
        with PeakSampler() as sampler:
            raw.send_frame(TEXT, b"flood me")  # and never read again
            assert done.wait(30), "the sender neither finished nor gave up"
        raw.close()
        (close,) = server.recorded.wait_for("close")
    growth = sampler.peak - before
    assert result["sent"] < TOTAL_TO_SEND, "a peer that reads nothing cannot have taken 64 MiB"
    assert close.code == 1006
    assert growth < 16 * MIB, f"server RSS grew by {growth / MIB:.1f} MiB while the peer read nothing"
    print(f"\nRSS growth while flooding a non-reading peer: {growth / MIB:.1f} MiB; "
          f"sent before the send timeout: {int(result['sent']) / MIB:.0f} MiB")  # type: ignore[call-overload]


def _cycle(port: int, number: int) -> None:
    raw = RawClient(port)
    try:
        if number % 4 == 3:
            return  # abrupt: drop TCP without a closing handshake
        raw.send_frame(TEXT, b"x")
        raw.read_message()
        raw.send_frame(CLOSE, close_payload(1000))
        raw.read_message()
        raw.expect_eof()
    finally:
        raw.close()


def _settled(baseline_fds: int, baseline_threads: int, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if open_fd_count() <= baseline_fds and thread_count() <= baseline_threads:
            break
        time.sleep(0.02)
    return open_fd_count(), thread_count()


@pytest.mark.parametrize(("server_class", "cycles"), [(HTTPServerThread, 2000), (RawServerThread, 500)],
                         ids=["http_server", "socketserver"])
def test_thousands_of_connect_close_cycles_leave_fds_and_threads_where_they_started(
        server_class: type, cycles: int) -> None:
    with server_class() as server:
        for number in range(8):  # warm-up: lazily created objects (the watchdog, caches)
            _cycle(server.port, number)
        server.wait_handlers_done()
        baseline_fds, baseline_threads = _settled(open_fd_count(), thread_count(), 0.5)
        started = time.monotonic()
        for number in range(cycles):
            _cycle(server.port, number)
        elapsed = time.monotonic() - started
        server.recorded.wait_for("close", cycles + 8)
        fds, threads = _settled(baseline_fds, baseline_threads, WAIT)
    # At most the baseline: a thread or fd left over by an earlier test may end meanwhile.
    assert fds <= baseline_fds and threads <= baseline_threads, \
        f"after {cycles} cycles: fds {baseline_fds} -> {fds}, threads {baseline_threads} -> {threads}"
    assert elapsed < 40, f"{cycles} cycles took {elapsed:.1f}s"
    print(f"\n{cycles} connect/close cycles in {elapsed:.2f}s; fds {fds}, threads {threads}")


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
