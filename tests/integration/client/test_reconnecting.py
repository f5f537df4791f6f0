"""The reconnecting client against real servers: across a server restart no message is lost when
the sender uses ``send_or_raise`` and sends again until the echo acknowledges it; a 4xx refusal
stops at once; 503 and refused connections are retried, with a retry event per failed attempt,
until the attempt limit raises the last failure out of the iteration.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from faye_websocket.client import RetryEvent, reconnecting
from faye_websocket.errors import ConnectionClosed, HandshakeError
from faye_websocket.server.http_server import WebSocketHTTPServer
from faye_websocket.server.websocket import WebSocket
from tests.integration.client_support import WAIT
from tests.integration.components import free_port

MESSAGES = 200
RESTART_AFTER = 50  # messages echoed before the first server goes away
FAST = {"initial_delay": 0.02, "max_delay": 0.1, "jitter": 0.5}


class EchoHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        ws = WebSocket.from_handler(self)
        ws.on("message", lambda event: event.target.send(event.data))
        ws.run()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(port: int, handler: type[http.server.BaseHTTPRequestHandler] = EchoHandler) -> Iterator[None]:
    """Our server on 127.0.0.1:``port``; on exit its live connections are closed with 1001."""
    server = WebSocketHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="restarting")
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def test_no_message_is_lost_across_a_server_restart(no_leaks: None) -> None:
    port = free_port()
    pending = [f"message {n}" for n in range(MESSAGES)]
    echoed: set[str] = set()
    halfway = threading.Event()
    gone = threading.Event()
    done = threading.Event()
    connections = 0

    def restart() -> None:
        """The first server goes away mid-stream (live connections closed), a new one comes up."""
        with serving(port):
            halfway.wait(WAIT)
        gone.set()
        with serving(port):
            done.wait(WAIT * 2)

    restarter = threading.Thread(target=restart, name="restarter")
    restarter.start()
    try:
        with reconnecting(f"ws://127.0.0.1:{port}/", max_attempts=100, **FAST) as clients:
            for ws in clients:
                connections += 1
                try:
                    while pending:
                        ws.send_or_raise(pending[0])  # raises instead of losing it once closed
                        echoed.add(str(ws.recv(timeout=WAIT)))
                        pending.pop(0)  # acknowledged by its echo: never sent again
                        if len(echoed) == RESTART_AFTER:
                            halfway.set()
                            assert gone.wait(WAIT)  # the next sends meet a closed connection
                except ConnectionClosed:
                    continue
                break
    finally:
        halfway.set()
        done.set()
        restarter.join(WAIT * 3)
    assert echoed == {f"message {n}" for n in range(MESSAGES)}
    assert connections >= 2


def refusing(status: int, hits: list[int]) -> type[http.server.BaseHTTPRequestHandler]:
    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            hits.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Refuse


def test_a_4xx_refusal_stops_at_once(no_leaks: None) -> None:
    port = free_port()
    hits: list[int] = []
    with serving(port, refusing(403, hits)), pytest.raises(HandshakeError) as refused:
        for _ in reconnecting(f"ws://127.0.0.1:{port}/", max_attempts=5, **FAST):
            pytest.fail("a refused connection yielded a client")
    assert refused.value.status == 403 and hits == [403]


@pytest.mark.parametrize("status", [503, 429])
def test_503_and_429_are_retried_up_to_the_attempt_limit(no_leaks: None, status: int) -> None:
    port = free_port()
    hits: list[int] = []
    retries: list[RetryEvent] = []
    with serving(port, refusing(status, hits)), pytest.raises(HandshakeError) as refused:
        for _ in reconnecting(f"ws://127.0.0.1:{port}/", max_attempts=4, onretry=retries.append, **FAST):
            pytest.fail("a refused connection yielded a client")
    assert refused.value.status == status and len(hits) == 4
    assert [event.attempt for event in retries] == [1, 2, 3]
    assert all(isinstance(event.error, HandshakeError) for event in retries)


def test_refused_connections_are_retried_and_the_last_error_raised(no_leaks: None) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: connections are refused
        retries: list[RetryEvent] = []
        with pytest.raises(ConnectionRefusedError):
            for _ in reconnecting(f"ws://127.0.0.1:{port}/", max_attempts=3, onretry=retries.append, **FAST):
                pytest.fail("no server, yet a client")
    assert [event.attempt for event in retries] == [1, 2]
    assert all(0 < event.delay <= FAST["max_delay"] for event in retries)


def test_close_from_another_thread_ends_the_iteration(no_leaks: None) -> None:
    port = free_port()
    with serving(port):
        clients = reconnecting(f"ws://127.0.0.1:{port}/", **FAST)
        seen = 0
        for ws in clients:
            seen += 1
            threading.Thread(target=clients.close).start()
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=WAIT)
    assert seen == 1
