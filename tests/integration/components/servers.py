"""Servers the tests run: any socketserver on a thread of this process, the WSGI servers wsgiref and
werkzeug (threads of this process) and gunicorn (a subprocess). Each listens on 127.0.0.1 on an
ephemeral port and is stopped, and its thread or process waited for, when its block ends.
"""

from __future__ import annotations

import http.client
import importlib.util
import socketserver
import ssl
import sys
import threading
import time
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
APP_START_TIMEOUT = 30.0  # seconds for gunicorn to bind and its worker to import the app (loaded CI)


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
    ready_path: str | None = None,
) -> Iterator[tuple[int, Process]]:
    """gunicorn with one ``worker`` process serving ``app`` (``threads`` threads for gthread).

    ``app`` is gunicorn's ``module:variable``, imported from ``chdir`` or ``pythonpath``. Yields
    the port and the Process (its ``output()`` holds what the application printed). Other workers
    get no --threads: gunicorn runs a sync worker given more than one thread as gthread.

    The master opens the port before the worker has imported the application; with
    ``ready_path`` the block starts only once a GET of that path has been answered (any status).
    Leave it out for an application that must see no request but the test's own.
    """
    require_module("gunicorn")
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "-k", worker, "-w", "1", "-b", f"127.0.0.1:{port}"]
    if worker == "gthread":
        argv += ["--threads", str(threads)]
    if chdir is not None:
        argv += ["--chdir", str(chdir)]
    if pythonpath is not None:
        argv += ["--pythonpath", str(pythonpath)]
    with Process([*argv, app], name=f"gunicorn-{worker}", ready_ports=[("127.0.0.1", port)],
                 ready_timeout=APP_START_TIMEOUT) as process:
        if ready_path is not None:
            wait_until_answering(port, ready_path, process)
        yield port, process


def wait_until_answering(port: int, path: str, process: Process, timeout: float = APP_START_TIMEOUT) -> None:
    """Wait until a GET of ``path`` on 127.0.0.1:``port`` gets an HTTP answer (any status).

    RuntimeError with the process's output if it exits or ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=max(remaining, 0.1))
        try:
            connection.request("GET", path, headers={"Connection": "close"})
            connection.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            if process.poll() is not None or remaining <= 0:
                raise RuntimeError(f"GET {path} unanswered after {timeout} s:\n{process.output()}") from None
            time.sleep(0.1)  # another process starting up: there is no event to wait on
        finally:
            connection.close()
