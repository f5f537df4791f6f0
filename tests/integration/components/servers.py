"""Servers the tests run: any socketserver on a thread of this process, the WSGI servers wsgiref and
werkzeug (threads of this process) and gunicorn (a subprocess). Each listens on 127.0.0.1 on an
ephemeral port and is stopped, and its thread or process waited for, when its block ends.
"""

from __future__ import annotations

import importlib.util
import socketserver
import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .process import Process, free_port, require

Server = TypeVar("Server", bound=socketserver.BaseServer)
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
POLL_INTERVAL = 0.05  # seconds: how soon serve_forever() notices shutdown()
JOIN_TIMEOUT = 10.0  # seconds the serving thread may take to end after shutdown()


@contextmanager
def serving_in_thread(server: Server, name: str = "test-server") -> Iterator[Server]:
    """Run ``server.serve_forever()`` on a thread named ``name``; yields the server.

    On exit: shutdown(), wait for the thread (bounded), then server_close().
    """
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL},
                              name=name)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(JOIN_TIMEOUT)
        server.server_close()


def require_module(name: str) -> None:
    """Fail in CI, skip elsewhere, when a WSGI server of the test extra is not installed."""
    require(importlib.util.find_spec(name) is not None, f"{name} is not installed (pip install -e .[test])")


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server with a thread per request (a WebSocket or a stream holds its request)."""

    daemon_threads = True


class QuietWSGIRequestHandler(WSGIRequestHandler):
    """wsgiref's handler without the access log on stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def wsgiref_server(app: WSGIApp) -> Iterator[int]:
    """The stdlib's wsgiref serving ``app`` (a thread per request); yields the port."""
    server = make_server("127.0.0.1", 0, app, ThreadingWSGIServer, QuietWSGIRequestHandler)
    with serving_in_thread(server, "wsgiref"):
        yield server.server_port


@contextmanager
def werkzeug_server(app: WSGIApp, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """werkzeug's threaded development server serving ``app`` (over TLS with ``tls``); yields the port."""
    require_module("werkzeug")
    from werkzeug.serving import make_server as make_werkzeug_server

    server = make_werkzeug_server("127.0.0.1", 0, app, threaded=True, ssl_context=tls)
    with serving_in_thread(server, "werkzeug"):
        yield server.server_port


@contextmanager
def gunicorn_server(
    app: str,
    *,
    worker: str = "gthread",
    threads: int = 4,
    chdir: Path | None = None,
    pythonpath: Path | None = None,
) -> Iterator[tuple[int, Process]]:
    """gunicorn with one ``worker`` process (``threads`` threads for gthread) serving ``app``.

    ``app`` is gunicorn's ``module:variable``, imported from ``chdir`` or ``pythonpath``. Yields
    the port and the Process (its ``output()`` holds what the application printed).
    """
    require_module("gunicorn")
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "-k", worker, "--threads", str(threads), "-w", "1",
            "-b", f"127.0.0.1:{port}"]
    if chdir is not None:
        argv += ["--chdir", str(chdir)]
    if pythonpath is not None:
        argv += ["--pythonpath", str(pythonpath)]
    with Process([*argv, app], name=f"gunicorn-{worker}", ready_ports=[("127.0.0.1", port)]) as process:
        yield port, process
