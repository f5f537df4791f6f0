"""A real browser for tests: headless Debian chromium, and a tiny server that pages report results to.

A test serves its page (from its own server or a ResultCollector), opens it with run_chromium(), and
waits for the page's `fetch(collector_url + "/result", {method: "POST", body: JSON.stringify(r)})`.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import queue
import shutil
import signal
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .process import Process, require_executable

# Flags that run Debian chromium headless as root in a container without touching the network
# (components.md). --user-data-dir (a fresh profile) is added per run.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-crash-reporter", "--disable-breakpad",
)

# SIGTERM lets chromium's renderers exit about 1.5 s later; a test's profile is thrown away, so a
# short grace before SIGKILL keeps teardown quick.
_CHROMIUM_TERM_GRACE = 0.5

# How long to keep killing a run's processes that left its process group.
_STRAGGLER_TIMEOUT = 5.0


@dataclass
class Browser:
    """A running chromium: its Process and the monotonic deadline the test gave it."""

    process: Process
    deadline: float
    profile_dir: str

    def remaining(self) -> float:
        """Return the seconds left before the browser's deadline (at least 0), for bounded waits."""
        return max(0.0, self.deadline - time.monotonic())

    def output(self) -> str:
        """Return chromium's captured output (for failure messages)."""
        return self.process.output()


@contextlib.contextmanager
def run_chromium(url: str, *, timeout: float = 30.0, extra_flags: Sequence[str] = ()) -> Iterator[Browser]:
    """Open `url` in headless chromium with a fresh profile; stop its whole process group on exit.

    `timeout` sets Browser.deadline: use `browser.remaining()` for waits inside the block. On exit the
    group is stopped and reaped (renderers included) and the profile removed. For https/wss pages
    pass `extra_flags=tls_certs.chromium_flags()`.
    """
    chromium = require_executable("chromium")
    profile = tempfile.mkdtemp(prefix="faye-chromium-")
    argv = [chromium, *CHROMIUM_FLAGS, *extra_flags, f"--user-data-dir={profile}", url]
    # Crash reports and caches go under XDG dirs, not the profile: keep them in the temp dir too,
    # which also puts the profile path on the command line of chromium's crashpad handlers.
    env = dict(os.environ, XDG_CONFIG_HOME=f"{profile}/xdg-config", XDG_CACHE_HOME=f"{profile}/xdg-cache")
    proc = Process(argv, name="chromium", env=env, term_grace=_CHROMIUM_TERM_GRACE, stop_timeout=10.0)
    try:
        proc.start()
        yield Browser(proc, time.monotonic() + timeout, profile)
    finally:
        proc.stop()
        _stop_stragglers(profile)
        shutil.rmtree(profile, ignore_errors=True)


def _stop_stragglers(profile: str) -> None:
    """SIGKILL processes of this run outside its process group (the crashpad handlers call setsid).

    They are found by the run's unique profile path on their command line, then reaped by init.
    """
    deadline = time.monotonic() + _STRAGGLER_TIMEOUT
    marker = profile.encode()
    while True:
        pids = [pid for pid in _live_pids() if marker in _cmdline(pid)]
        if not pids or time.monotonic() >= deadline:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _live_pids() -> list[int]:
    """Return the pids of all live (not zombie) processes."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if stat[stat.rfind(b")") + 2:][:1] != b"Z":
                pids.append(int(entry))
    return pids


def _cmdline(pid: int) -> bytes:
    """Return the command line of `pid` (b"" if it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


class ResultCollector:
    """A stdlib HTTP server on 127.0.0.1:0 that serves static files and records POST /result bodies.

    `routes` maps a path to (body, content type); `directory` serves its files by name; routes win.
    Each POST /result body is parsed as JSON (kept as text if it is not JSON) and queued for
    wait_result(). CORS is open, so a page from another origin can report here. With `ssl_context`
    (e.g. tls_certs.server_context()) it serves https, for pages that must be a secure origin.
    One thread serves (plus one per request, joined on close()). Use as a context manager.
    """

    def __init__(self, routes: Mapping[str, tuple[bytes | str, str]] | None = None,
                 directory: Path | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        for path, (body, content_type) in (routes or {}).items():
            self.add_route(path, body, content_type)
        self.directory = directory
        self.results: queue.Queue[Any] = queue.Queue()
        self.requests: list[str] = []
        self._server = _CollectorServer(("127.0.0.1", 0), _CollectorHandler, self)
        self.scheme = "https" if ssl_context is not None else "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="result-collector",
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()

    def add_route(self, path: str, body: bytes | str, content_type: str = "text/html; charset=utf-8") -> None:
        """Serve `body` at `path` (any thread)."""
        self.routes[path] = (body.encode("utf-8") if isinstance(body, str) else body, content_type)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        """Return http(s)://HOST:PORT + path (https when built with an ssl_context)."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def wait_result(self, timeout: float, context: str = "") -> Any:
        """Return the next POSTed result; raise AssertionError (with `context`) after `timeout` s."""
        try:
            return self.results.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no POST /result within {timeout} s; requests seen: {self.requests}"
                                 f"\n{context}") from None

    def close(self) -> None:
        """Stop serving, join the serving thread and the request threads, close the socket."""
        self._server.shutdown()
        self._thread.join(10)
        self._server.server_close()

    def __enter__(self) -> ResultCollector:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _CollectorServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its collector and joins its request threads on close."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 collector: ResultCollector) -> None:
        self.collector = collector
        super().__init__(address, handler)


class _CollectorHandler(BaseHTTPRequestHandler):
    """GET: routes, then files of the directory; POST /result: queue the body; OPTIONS: CORS."""

    server: _CollectorServer
    # A stuck client must not hold close() forever (it joins request threads).
    timeout = 10

    def do_GET(self) -> None:
        collector = self.server.collector
        path = self.path.split("?", 1)[0]
        collector.requests.append(f"GET {self.path}")
        found = collector.routes.get(path)
        if found is None and collector.directory is not None:
            candidate = (collector.directory / path.lstrip("/")).resolve()
            if candidate.is_file() and collector.directory.resolve() in candidate.parents:
                kind = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
                found = (candidate.read_bytes(), kind)
        if found is None:
            self._reply(404, b"not found", "text/plain")
        else:
            self._reply(200, *found)

    def do_POST(self) -> None:
        collector = self.server.collector
        collector.requests.append(f"POST {self.path}")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        if self.path.split("?", 1)[0] != "/result":
            self._reply(404, b"not found", "text/plain")
            return
        try:
            collector.results.put(json.loads(body))
        except ValueError:
            collector.results.put(body)
        self._reply(204, b"", "text/plain")

    def do_OPTIONS(self) -> None:
        self._reply(204, b"", "text/plain")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; requests are listed in collector.requests instead."""
