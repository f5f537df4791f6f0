"""A member that stops reading costs the others nothing, and is closed or skipped by the policy."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from faye_websocket.broadcast import WRITER, Group, Overflow
from tests.integration.server_support import CLOSE, TEXT, HTTPServerThread, RawClient, handshake_request

WAIT = 10.0  # every wait's bound; the stalled member's send_timeout (60 s) is far beyond it
STALLED_SEND_TIMEOUT = 60.0
HEALTHY = 8
MESSAGE_SIZE = 4096
MESSAGES = 1500  # 6 MB to each member: more than loopback buffers hold for one that never reads
BACKLOG = 256 * 1024
STALLED_RCVBUF = 16384


class Reader:
    """A healthy member: a RawClient read by its own thread until it has ``expected`` messages."""

    def __init__(self, port: int, path: str, expected: int) -> None:
        self.client = RawClient(port, path=path, timeout=WAIT)
        self.expected = expected
        self.messages: list[bytes] = []
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, name="test-reader")
        self.thread.start()

    def _read(self) -> None:
        try:
            while len(self.messages) < self.expected:
                frame = self.client.read_message()
                if frame.opcode != TEXT:
                    self.error = AssertionError(f"unexpected frame {frame}")
                    return
                self.messages.append(frame.payload)
        except (OSError, EOFError) as error:
            self.error = error
        finally:
            self.done.set()

    def close(self) -> None:
        self.client.close()
        self.thread.join(WAIT)


WINDOW = 16  # messages the publisher runs ahead of the slowest healthy member (its pace)


def publish_paced(group: Group, readers: list[Reader], stalled_ws: Any) -> None:
    """Publish MESSAGES at the pace of the healthy members, checking the stalled one's backlog.

    A real publisher is paced by its source; a loop that outruns every member would overflow
    them all, which is the policy working, not what this test is about.
    """
    for number in range(MESSAGES):
        group.publish(payload(number))
        assert WRITER.backlog(stalled_ws)[0] <= BACKLOG  # the broadcaster's memory stays bounded
        if number % WINDOW == 0:
            deadline = time.monotonic() + WAIT
            while min(len(reader.messages) for reader in readers) < number - WINDOW:
                assert time.monotonic() < deadline, "the healthy members fell behind"
                assert not any(reader.error for reader in readers), [r.error for r in readers]
                time.sleep(0.001)


def payload(number: int) -> str:
    return f"{number:08d}".ljust(MESSAGE_SIZE, "x")


@pytest.fixture
def group_server() -> Iterator[tuple[Group, HTTPServerThread]]:
    group = Group("slow", max_bytes=BACKLOG)
    holder: dict[str, Any] = {"group": group}

    def setup(ws: Any) -> None:
        holder["group"].join(ws)

    with HTTPServerThread(setup, send_timeout=STALLED_SEND_TIMEOUT) as server:
        server.holder = holder  # type: ignore[attr-defined]
        yield group, server
    group.close()


class StalledClient(RawClient):
    """A member that stops reading right after its handshake, with a small receive buffer (set
    before connecting, so that TCP's window is sized for it from the start)."""

    def __init__(self, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_RCVBUF)
        sock.settimeout(WAIT)
        sock.connect(("127.0.0.1", port))
        self.sock = sock
        self.buffer = bytearray()
        request, self.key = handshake_request("/stalled")
        sock.sendall(request)
        self.read_response()


def stalled_socket(server: HTTPServerThread) -> Any:
    """The server side of the stalled member (it asked for /stalled)."""
    return next(ws for ws in server.recorded.sockets if ws.url.endswith("/stalled"))


def connect_members(server: HTTPServerThread, group: Group) -> tuple[RawClient, list[Reader]]:
    stalled = StalledClient(server.port)
    readers = [Reader(server.port, f"/reader{i}", MESSAGES) for i in range(HEALTHY)]
    deadline = time.monotonic() + WAIT
    while len(group) < HEALTHY + 1:
        assert time.monotonic() < deadline, "members did not join"
        time.sleep(0.01)
    return stalled, readers


@contextlib.contextmanager
def published_past_a_stalled_member(
    group: Group, server: HTTPServerThread
) -> Iterator[tuple[RawClient, Any]]:
    """Connect the members, publish everything, check that every healthy member got it all in
    order; yield the stalled client and its server side. Clients closed on exit."""
    stalled, readers = connect_members(server, group)
    stalled_ws = stalled_socket(server)
    try:
        publish_paced(group, readers, stalled_ws)
        for reader in readers:
            assert reader.done.wait(WAIT), f"got {len(reader.messages)} of {MESSAGES}: {reader.error}"
            assert reader.messages == [payload(n).encode() for n in range(MESSAGES)]
        yield stalled, stalled_ws
    finally:
        stalled.close()
        for reader in readers:
            reader.close()


def test_stalled_member_is_closed_with_1013_and_the_others_get_everything(
    no_leaks: None, group_server: tuple[Group, HTTPServerThread]
) -> None:
    group, server = group_server
    with published_past_a_stalled_member(group, server) as (stalled, stalled_ws):
        assert group.stats().closed == 1
        assert stalled_ws not in group
        # The stalled client reads again: a prefix of the messages, in order, then close 1013.
        received = []
        while True:
            frame = stalled.read_frame()
            if frame.opcode == CLOSE:
                assert frame.close_code == 1013
                stalled.send_frame(CLOSE, frame.payload)  # answer, as a client does
                break
            received.append(frame.payload)
        assert received == [payload(n).encode() for n in range(len(received))]
        assert len(received) < MESSAGES


def test_stalled_member_is_skipped_and_gets_later_messages_in_order(
    no_leaks: None, group_server: tuple[Group, HTTPServerThread]
) -> None:
    _, server = group_server
    group = Group("skip", max_bytes=BACKLOG, overflow=Overflow.SKIP)
    server.holder["group"] = group  # type: ignore[attr-defined]
    try:
        with published_past_a_stalled_member(group, server) as (stalled, stalled_ws):
            assert group.stats().skipped > 0
            assert stalled_ws in group
            group.publish("last")
            received = []
            while not received or received[-1] != b"last":
                received.append(stalled.read_message().payload)
            numbers = [int(item[:8]) for item in received[:-1]]
            assert numbers == sorted(set(numbers))  # in order, none repeated
            assert len(numbers) < MESSAGES  # some were skipped
    finally:
        group.close()
