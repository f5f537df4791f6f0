"""What docs/deployment.md says, shown with the Flask test app under gunicorn:

- gthread's ``--threads`` caps WebSockets and plain requests together: with every thread held
  by a WebSocket, a new handshake waits unanswered, and is answered once one closes;
- a sync worker's ``--timeout`` ends a WebSocket with 1001 (going away);
- gunicorn terminating TLS itself (``--certfile``) takes over as cleanly;
- the nginx and haproxy configurations, as written in the page, pass the upgrade through and
  deliver an event stream's events while the stream is still open (no buffering).
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from faye_websocket import ConnectionClosed, connect
from tests.integration.components import Process, TLSCerts, free_port, require_executable
from tests.integration.components.reverse_proxies import nginx_config
from tests.integration.frameworks.cases import read_event_stream_head, read_until
from tests.integration.frameworks.support import (
    HERE,
    START_TIMEOUT,
    WAIT,
    Server,
    assert_clean_log,
    environment,
    flask_server,
    require_module,
    running,
)
from tests.integration.server_support import TEXT, RawClient, client_frame
from tests.paths import REPO_ROOT

DEPLOYMENT = REPO_ROOT / "docs" / "deployment.md"
APP_ADDRESS = "127.0.0.1:8000"  # where the page's configurations send requests
PENDING_CHECK = 1.0  # seconds a handshake is watched to stay unanswered while every thread is busy


def config_block(language: str) -> str:
    """The page's one ```<language> block."""
    (found,) = re.findall(rf"^```{language}\n(.*?)^```", DEPLOYMENT.read_text(encoding="utf-8"), re.S | re.M)
    return found


def gunicorn(worker: str, port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-k", worker, "-w", "1", *options,
            "-b", f"127.0.0.1:{port}", "--chdir", str(HERE), "flask_app:app"]


def test_every_thread_held_by_a_websocket_leaves_a_new_handshake_waiting_until_one_closes() -> None:
    require_module("flask")
    port = free_port()
    with running("gthread-2", gunicorn("gthread", port, "--threads", "2"), port) as server:
        held = [connect(server.url(f"/echo/held{n}", "ws"), connect_timeout=WAIT) for n in range(2)]
        try:
            with RawClient(server.port, path="/echo/waiting", read_response=False) as waiting:
                waiting.sock.settimeout(PENDING_CHECK)
                with pytest.raises(TimeoutError):  # queued in the worker: no thread to answer it
                    waiting.read_response()
                waiting.sock.settimeout(WAIT)
                held[0].close()
                assert waiting.read_response().startswith("HTTP/1.1 101")
                waiting.close_handshake()
        finally:
            for ws in held:
                ws.close()


def test_gunicorn_terminating_tls_takes_over_cleanly(tls_certs: TLSCerts) -> None:
    """With --certfile gunicorn's socket is a TLS socket, which is shared rather than duplicated:
    the pipelined frame still arrives (from the TLS layer's buffer), and the log stays clean."""
    require_module("flask")
    port = free_port()
    argv = gunicorn("gthread", port, "--threads", "4", "--certfile", str(tls_certs.server_crt),
                    "--keyfile", str(tls_certs.server_key))
    process = Process(argv, name="gunicorn-tls", env=environment(), ready_ports=[("127.0.0.1", port)],
                      ready_timeout=START_TIMEOUT)
    with process:
        url = f"wss://localhost:{port}/echo/secure"
        with connect(url, tls=tls_certs.client_context(), connect_timeout=START_TIMEOUT) as ws:
            ws.send("sealed")
            assert ws.recv(timeout=WAIT) == "secure|hooked|sealed"
            assert ws.url == url
        with RawClient(port, path="/echo/raw", trailing=client_frame(TEXT, b"first"),
                       ssl_context=tls_certs.client_context()) as raw:
            assert raw.read_message().payload == b"raw|hooked|first"
            raw.close_handshake()
    assert_clean_log("gunicorn-tls", process.output())


def test_a_sync_worker_timeout_closes_the_websocket_with_1001() -> None:
    require_module("flask")
    port = free_port()
    # The worker is killed, so gunicorn logs WORKER TIMEOUT: that is the point, not a defect.
    with running("sync-timeout", gunicorn("sync", port, "--timeout", "1"), port, check_log=False) as server, \
            connect(server.url("/echo/short", "ws"), connect_timeout=WAIT) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.code == 1001


def render_nginx(directory: Path, port: int, backend: int) -> Path:
    """The page's nginx block, listening on ``port`` in front of ``backend``, in a test nginx.conf."""
    block = config_block("nginx").replace("listen 80;", f"listen 127.0.0.1:{port};")
    (directory / "tmp").mkdir()
    conf = directory / "nginx.conf"
    conf.write_text(nginx_config(directory, block.replace(APP_ADDRESS, f"127.0.0.1:{backend}")))
    return conf


def render_haproxy(directory: Path, port: int, backend: int) -> Path:
    """The page's haproxy block, listening on ``port`` in front of ``backend``."""
    block = config_block("haproxy").replace("bind :80", f"bind 127.0.0.1:{port}")
    conf = directory / "haproxy.cfg"
    conf.write_text(block.replace(APP_ADDRESS, f"127.0.0.1:{backend}"))
    return conf


@pytest.fixture(scope="module")
def backend() -> Iterator[Server]:
    with flask_server("gunicorn_gthread") as server:
        yield server


@pytest.mark.component
@pytest.mark.parametrize("proxy", ["nginx", "haproxy"])
def test_the_pages_proxy_configuration_passes_websockets_and_streams_events(
    proxy: str, backend: Server, tmp_path: Path
) -> None:
    program = require_executable(proxy)
    port = free_port()
    if proxy == "nginx":
        conf = render_nginx(tmp_path, port, backend.port)
        argv = [program, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")]
    else:
        argv = [program, "-db", "-f", str(render_haproxy(tmp_path, port, backend.port))]
    with Process(argv, name=proxy, cwd=str(tmp_path), ready_ports=[("127.0.0.1", port)],
                 log_files=[str(tmp_path / "error.log")]) as process:
        with connect(f"ws://127.0.0.1:{port}/echo/proxied", connect_timeout=WAIT) as ws:
            ws.send("through")
            assert ws.recv(timeout=WAIT) == "proxied|hooked|through", process.output()
        request = "GET /events/2 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
            sock.sendall(request.encode())
            head, rest = read_event_stream_head(sock)
            assert " 200 " in head.split("\r\n")[0], head
            # the view keeps the stream open after its two events: they must arrive meanwhile
            read_until(sock, rest, b"data: hooked 1\r\n\r\n")

