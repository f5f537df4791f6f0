"""The client examples as a user runs them: examples/client.py and examples/autobahn_client.py.

The Autobahn testee runs against a tiny fuzzing server built from our own server, speaking the
three URLs of Autobahn's fuzzingserver protocol (/getCaseCount, /runCase, /updateReports).
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from faye_websocket.events import MessageEvent
from faye_websocket.server.websocket import WebSocket
from tests.integration.client_support import echo_server
from tests.integration.components import ProxyServer, TLSCerts, serving_in_thread
from tests.paths import EXAMPLES

RUN_TIMEOUT = 30.0  # seconds for a whole example run
# Per case: what the fake fuzzing server sends, and must get back unchanged.
CASES: list[list[str | bytes]] = [["Hello, world"], [b"\x00\xff\x10"], ["caf\u00e9", b"bin", "x" * 70000]]


@dataclass
class FakeFuzzingServer:
    port: int
    results: dict[int, bool] = field(default_factory=dict)
    agents: list[str] = field(default_factory=list)
    deflate_offered: list[bool] = field(default_factory=list)
    reports_for: list[str] = field(default_factory=list)


def play_case(ws: WebSocket, messages: list[str | bytes]) -> bool:
    """Send ``messages`` and check that each comes back with the same type and content."""
    echoed: list[str | bytes] = []
    done = threading.Event()

    def on_message(event: MessageEvent) -> None:
        echoed.append(event.data)
        if len(echoed) == len(messages):
            done.set()
            ws.close()

    ws.on("message", on_message)
    for message in messages:
        ws.send(message)
    ws.run()
    return done.is_set() and all(type(a) is type(b) and a == b for a, b in zip(echoed, messages))


@contextmanager
def fake_fuzzing_server() -> Iterator[FakeFuzzingServer]:
    state: FakeFuzzingServer

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            offer = self.headers.get("Sec-WebSocket-Extensions", "")
            ws = WebSocket.from_handler(self)
            if parts.path == "/getCaseCount":
                ws.send(str(len(CASES)))
                ws.close()
                ws.run()
            elif parts.path == "/runCase":
                number = int(query["case"])
                state.agents.append(query["agent"])
                state.deflate_offered.append("permessage-deflate" in offer)
                state.results[number] = play_case(ws, CASES[number - 1])
            elif parts.path == "/updateReports":
                state.reports_for.append(query["agent"])
                ws.close()
                ws.run()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = FakeFuzzingServer(httpd.server_address[1])
    with serving_in_thread(httpd, "fake-fuzzer"):
        yield state


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env={"PATH": "/usr/bin:/bin"},  # no proxy variables from the machine
    )


def test_autobahn_testee_echoes_every_case_and_updates_reports() -> None:
    with fake_fuzzing_server() as server:
        done = run_example("autobahn_client.py", f"ws://127.0.0.1:{server.port}", "--agent", "testee")
    assert done.returncode == 0, done.stderr
    assert server.results == {1: True, 2: True, 3: True}, done.stderr
    assert server.agents == ["testee"] * 3
    assert all(server.deflate_offered)
    assert server.reports_for == ["testee"]
    assert "case 3 (3/3)" in done.stderr


def test_autobahn_testee_can_run_selected_cases() -> None:
    with fake_fuzzing_server() as server:
        done = run_example("autobahn_client.py", f"ws://127.0.0.1:{server.port}/", "--cases", "2-3")
    assert done.returncode == 0, done.stderr
    assert server.results == {2: True, 3: True}
    assert server.reports_for == ["faye_websocket"]


def test_client_example_sends_mic_check_and_closes() -> None:
    with echo_server() as server:
        done = run_example("client.py", server.url())
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("[open]")
    assert lines[1:] == ["[message] mic check", "[close] 1000 "]
    assert server.requests[0].headers["Origin"] == "http://faye.jcoglan.com"


def test_client_example_through_an_https_proxy_to_wss(squid_proxy: ProxyServer, tls_certs: TLSCerts) -> None:
    with echo_server(tls_certs.server_context()) as server:
        done = run_example(
            "client.py",
            server.url(host="localhost"),
            squid_proxy.url(tls=True),
            "--ca",
            str(tls_certs.ca_pem),
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[message] mic check" in done.stdout.splitlines()


def test_autobahn_testee_without_a_fuzzing_server_exits_2_with_a_message() -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    done = run_example("autobahn_client.py", f"ws://127.0.0.1:{port}")
    assert done.returncode == 2
    assert "cannot reach the fuzzing server" in done.stderr
