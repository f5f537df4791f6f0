"""A ``connect()``ed client busy elsewhere keeps its connection alive: it answers the server's
pings, runs its own ``ping=`` interval and ``ping(callback=)`` while nobody calls ``recv()``, and
the messages that arrive meanwhile wait for the next ``recv()``, in order.
"""

from __future__ import annotations

import os
import threading
import time

from faye_websocket.client import connect
from faye_websocket.connection.keepalive import KeepaliveHub
from faye_websocket.server.websocket import WebSocket
from tests.integration.client_support import WAIT
from tests.integration.server_support import HTTPServerThread

BUSY = 3.0  # seconds the caller spends elsewhere (the case: 6 pong timeouts of the server)
SERVER_PING = 0.5  # the server pings this often and drops a client silent for as long


def test_a_client_busy_for_3_s_stays_open_against_a_server_with_ping_half_a_second(no_leaks: None) -> None:
    with HTTPServerThread(ping=SERVER_PING) as server, connect(server.url()) as ws:
        time.sleep(BUSY)  # the behaviour under test: the caller does something else, nobody reads
        assert ws.send("still here") is True
        assert ws.recv(timeout=WAIT) == "still here"
        assert ws.close_code is None
        assert server.recorded.of_type("close") == []
        # The server's pings were answered while this thread slept (about one per half second).
        assert len(server.recorded.of_type("pong")) >= BUSY / SERVER_PING / 2
    assert ws.close_code == 1000


def test_own_ping_interval_and_ping_callback_run_while_the_caller_is_busy(no_leaks: None) -> None:
    answered = threading.Event()
    with HTTPServerThread() as server, connect(server.url(), ping=0.2) as ws:
        assert ws.ping(b"are you there", callback=answered.set)
        assert answered.wait(WAIT)  # fired on the keepalive thread: this thread never read
        seen = server.recorded.wait_for("ping", count=2)  # the automatic pings keep coming too
        assert seen[0].data == b"are you there"  # type: ignore[attr-defined]


def test_messages_read_by_the_keepalive_wait_for_recv_in_order(no_leaks: None) -> None:
    sent = threading.Event()

    def setup(ws: WebSocket) -> None:
        def burst(event: object) -> None:
            for n in range(20):
                ws.send(f"m{n}")
            sent.set()

        ws.on("open", burst)

    with HTTPServerThread(setup) as server, connect(server.url()) as ws:
        assert sent.wait(WAIT)
        assert [ws.recv(timeout=WAIT) for _ in range(20)] == [f"m{n}" for n in range(20)]


def _keepalive_threads() -> list[str]:
    # One per connection that needed one ("faye_websocket-keepalive c<n>"); the process-wide idle
    # watcher that starts them is another name.
    return [t.name for t in threading.enumerate() if t.name.startswith("faye_websocket-keepalive")]


def test_a_client_that_connects_and_closes_starts_no_thread_of_its_own(no_leaks: None) -> None:
    with HTTPServerThread() as server:
        before = _keepalive_threads()
        for _ in range(20):
            with connect(server.url()) as ws:
                # Nothing arrives while nobody reads (the close reply comes while close() reads):
                # the keepalive has had no work, so it has no thread.
                assert _keepalive_threads() == before
            assert ws.close_code == 1000
        assert _keepalive_threads() == before


def test_keepalive_false_leaves_the_socket_to_the_caller(no_leaks: None) -> None:
    with HTTPServerThread() as server, connect(server.url(), keepalive=False) as ws:
        assert not any(t.name.startswith("faye_websocket-keepalive") for t in threading.enumerate())
        ws.send("x")
        assert ws.recv(timeout=WAIT) == "x"


def test_a_forked_child_gets_an_idle_watcher_of_its_own() -> None:
    parent = KeepaliveHub.instance()
    pid = os.fork()
    if pid == 0:  # the child: the parent's watcher thread did not come along, its epoll is shared
        child = KeepaliveHub.instance()
        os._exit(0 if child is not None and child is not parent else 1)
    deadline = time.monotonic() + WAIT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.01)  # polling the child's exit, bounded by WAIT
    assert done, "the forked child did not exit"
    assert os.waitstatus_to_exitcode(status) == 0
    assert KeepaliveHub.instance() is parent
