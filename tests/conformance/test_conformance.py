"""Autobahn-style conformance, both directions, through real sockets and the real example programs.

The demo server (``examples/server.py``) must pass every case the fuzzing client plays, and the
Autobahn testee (``examples/autobahn_client.py``) every case the fuzzing server plays: OK
everywhere, or at worst NON-STRICT, is the bar the independent Autobahn runs will apply.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import threading
from dataclasses import replace

import pytest

from tests.integration.components import Process, free_port
from tests.paths import REPO_ROOT

from .cases import CASES, Verdict
from .fuzzing_client import report, run_all
from .fuzzing_server import FuzzingServer

ROOT = REPO_ROOT
RUN_TIMEOUT = 240.0


@pytest.mark.timeout(300)
def test_demo_server_passes_every_conformance_case() -> None:
    port = free_port()
    argv = [sys.executable, str(ROOT / "examples" / "server.py"), str(port)]
    with Process(argv, ready_ports=[("127.0.0.1", port)], cwd=str(ROOT)):
        results = run_all(f"ws://127.0.0.1:{port}/")
    assert len(results) == len(CASES)
    failed = [r for r in results.values() if r.verdict is Verdict.FAILED]
    assert not failed, report(CASES, results)


@pytest.mark.timeout(300)
def test_autobahn_client_passes_every_conformance_case() -> None:
    server = FuzzingServer(0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "autobahn_client.py"), server.url, "--agent", "faye"],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            cwd=str(ROOT),
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert server.reports_updated.is_set()
    assert set(server.results) == {case.id for case in CASES}, report(CASES, server.results)  # type: ignore[arg-type]
    failed = [r for r in server.results.values() if r.verdict is Verdict.FAILED]
    assert not failed, server.report()


SILENT_REQUEST = (
    "GET /runCase?case={number}&agent=x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def accept_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def test_the_harness_notices_a_peer_that_does_not_echo() -> None:
    """A harness that cannot fail proves nothing: a silent peer must fail the echo cases."""
    server = FuzzingServer(0, cases=[replace(c, timeout=0.5) for c in CASES if c.id in ("1.1.2", "3.1")])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        for number in (1, 2):
            with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=3) as sock:
                sock.sendall(SILENT_REQUEST.format(number=number, key=accept_key()).encode())
                with contextlib.suppress(OSError):
                    while sock.recv(65536):
                        pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert server.results["1.1.2"].verdict is Verdict.FAILED
    assert server.results["3.1"].verdict is Verdict.FAILED
