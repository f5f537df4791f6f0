"""Resource bounds of the server: memory with a peer that stops reading, fds and threads over
thousands of connections. The server runs in this process, so /proc/self is the server."""

from __future__ import annotations

import socket
import threading
import time

import pytest

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
