"""``python -m faye_websocket serve [PORT]`` and ``connect URL`` as subprocesses."""

from __future__ import annotations

import subprocess
import sys

from websockets.sync.client import connect

from faye_websocket.server.websocket import WebSocket
from tests.integration.components import Process, free_port
from tests.integration.server_support import WAIT, HTTPServerThread
from tests.paths import EXAMPLES


def serve(port: int) -> Process:
    return Process([sys.executable, "-m", "faye_websocket", "serve", str(port)], name="serve",
                   ready_line="Listening on", ready_ports=[("127.0.0.1", port)])


def test_serve_echoes_for_an_independent_client() -> None:
    port = free_port()
    with serve(port), connect(f"ws://127.0.0.1:{port}/", subprotocols=["xmpp"], open_timeout=WAIT) as client:
        assert client.subprotocol == "xmpp"
        client.send(b"\x01\x02")
        assert client.recv(timeout=WAIT) == b"\x01\x02"


def test_connect_sends_its_arguments_and_prints_the_replies() -> None:
    port = free_port()
    with serve(port):
        done = subprocess.run([sys.executable, "-m", "faye_websocket", "connect", f"ws://127.0.0.1:{port}/",
                               "hello", "wörld"], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hello", "wörld"]


def test_connect_sends_stdin_lines_and_prints_every_reply_before_closing() -> None:
    port = free_port()
    with serve(port):
        done = subprocess.run([sys.executable, "-m", "faye_websocket", "connect", f"ws://127.0.0.1:{port}/"],
                              input="one\ntwo\nthree\n", capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["one", "two", "three"]


def test_connect_to_a_closed_port_fails_with_status_1() -> None:
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "faye_websocket", "connect", f"ws://127.0.0.1:{port}/", "x"],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 1 and "connect failed" in done.stderr


def test_connect_command_reports_a_server_that_closes_instead_of_replying(no_leaks: None) -> None:
    # `python -m faye_websocket connect URL MESSAGE` against a server that closes at once: a
    # one-line error and status 1, not a ConnectionClosed traceback.
    def close_at_once(ws: WebSocket) -> None:
        ws.on("message", lambda event: ws.close(4000, "no replies here"))

    with HTTPServerThread(close_at_once) as server:
        done = subprocess.run([sys.executable, "-m", "faye_websocket", "connect", server.url(), "hello"],
                              capture_output=True, text=True, timeout=20, cwd=EXAMPLES.parent)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "4000" in done.stderr, done.stderr
