"""Running the command line as users do: a subprocess with no terminal, its output captured."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.integration.components import Process

CLI = [sys.executable, "-m", "faye_websocket"]
RUN_TIMEOUT = 30.0  # seconds any one command may take (each waits at most 10 s for a reply)
LISTENING = r"Listening on wss?://\S+:(\d+)/"
LOG_POLL_INTERVAL = 0.02  # seconds between looks at a server's captured output


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
        timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``python -m faye_websocket ARGS`` without a terminal; stdin is ``input`` or empty."""
    return subprocess.run(
        [*CLI, *args], input=input if input is not None else "", capture_output=True, text=True,
        timeout=timeout, env=_environment(env),
    )


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    # No proxy from the developer's environment: the servers are on loopback.
    environment = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    environment.update(extra or {})
    return environment


def assert_one_line_error(done: subprocess.CompletedProcess[str], status: int, *words: str) -> str:
    """The command failed with ``status`` and said why in one line with ``words``; returns it."""
    assert done.returncode == status, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@contextmanager
def serving(*flags: str, env: dict[str, str] | None = None) -> Iterator[tuple[int, Process]]:
    """``serve 0 FLAGS`` running; yields the port it printed and the process (stopped after)."""
    process = Process([*CLI, "serve", "0", *flags], name="serve", ready_line=LISTENING,
                      env=_environment(env))
    with process:
        assert process.ready_match is not None
        yield int(process.ready_match.group(1)), process


def log_lines(process: Process) -> list[str]:
    """The server's output lines so far (the Listening line, then the access log)."""
    return process.output().splitlines()


def wait_for_log(process: Process, text: str, timeout: float = RUN_TIMEOUT) -> str:
    """The first output line containing ``text``, waiting up to ``timeout`` s for it.

    Polled, as the components' port waits are: the reader thread has no public event per line.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in log_lines(process) if text in line]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no line with {text!r} in:\n{process.output()}"
        time.sleep(LOG_POLL_INTERVAL)


def start_tls_handshake(port: int, timeout: float = RUN_TIMEOUT) -> None:
    """Send a TLS ClientHello to 127.0.0.1:``port`` as an https:// client would; the server of
    a plain port hangs up, which is the expected end."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            context.wrap_socket(sock, server_hostname="localhost").close()
        except (ssl.SSLError, OSError):
            pass
