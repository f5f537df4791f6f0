"""Real servers for the Flask and Django tests: start one, wait until the app answers, check its log.

Every server runs as a child process with its output captured (``Process``), so that after the
tests the whole log can be checked for errors and tracebacks (``assert_clean_log``); stopping it
first makes the server finish and flush whatever it logs after a view returns.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.components import Process, free_port
from tests.integration.components.servers import require_module, wait_until_answering

HERE = Path(__file__).resolve().parent
DJANGO_SITE = HERE / "django_site"
START_TIMEOUT = 60.0  # seconds; importing Django or Flask takes seconds on a loaded 2-core machine
WAIT = 10.0  # seconds any one step of a test may take
# What must never appear in a server's log after our tests (case-insensitive): errors,
# tracebacks, gunicorn's "Bad file descriptor", Django's "Broken pipe" notes.
LOG_PROBLEMS = re.compile(r"traceback|error|exception|bad file descriptor|broken pipe|stopiteration", re.I)


@dataclass
class Server:
    """A running server: its port and its process (``process.output()`` is the log)."""

    name: str
    port: int
    process: Process

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET",
            timeout: float = WAIT) -> tuple[int, dict[str, str], bytes]:
        """One plain request: status, headers (lower-case names), body. HTTP errors are returned too."""
        req = urllib.request.Request(self.url(path), headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        except urllib.error.HTTPError as error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()

    def stats(self) -> dict[str, Any]:
        status, _, body = self.get("/stats")
        assert status == 200, body
        result: dict[str, Any] = json.loads(body)
        return result

    def wait_for_stats(self, **expected: int) -> None:
        """Poll /stats until each count reaches at least its value (bounded by WAIT)."""
        deadline = time.monotonic() + WAIT
        while True:
            stats = self.stats()
            if all(stats[key] >= value for key, value in expected.items()):
                return
            assert time.monotonic() < deadline, f"{self.name}: stats {stats}, expected {expected}"
            time.sleep(0.05)  # polling a counter in another process; no event to wait on


def assert_clean_log(name: str, log: str) -> None:
    """No error, traceback or warning of a broken connection in a server's whole log."""
    problems = [line for line in log.splitlines() if LOG_PROBLEMS.search(line)]
    assert not problems, f"{name} logged problems:\n" + "\n".join(problems) + f"\n--- full log ---\n{log}"


def gunicorn_argv(worker: str, port: int, chdir: Path, app: str) -> list[str]:
    """gunicorn with one worker: gthread with 8 threads, or a true sync worker (--threads 1;
    gunicorn turns "sync" with more threads into gthread)."""
    threads = "8" if worker == "gthread" else "1"
    return [sys.executable, "-m", "gunicorn", "-k", worker, "--threads", threads, "-w", "1",
            "--graceful-timeout", "3", "-b", f"127.0.0.1:{port}", "--chdir", str(chdir), app]


@contextlib.contextmanager
def running(name: str, argv: Sequence[str], port: int, *, cwd: Path | None = None,
            env: dict[str, str] | None = None, check_log: bool = True,
            ready_path: str = "/") -> Iterator[Server]:
    """Start ``argv``, wait until it answers ``ready_path``, yield it; stop it and check its log.

    The port opens before the app is imported (gunicorn's master binds it), hence the wait; its
    one request may take the whole start-up, since a request given up early would make the
    server log a broken pipe when it answered at last.
    """
    process = Process(argv, name=name, cwd=str(cwd) if cwd else None, env=environment(env),
                      ready_ports=[("127.0.0.1", port)], ready_timeout=START_TIMEOUT)
    with process:
        server = Server(name, port, process)
        wait_until_answering(port, ready_path, process, START_TIMEOUT)
        yield server
    if check_log:
        assert_clean_log(name, process.output())


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A test server's environment: unbuffered output, this folder on PYTHONPATH (the apps import
    ``ended``) before whatever it held, and ``extra``."""
    path = os.pathsep.join(entry for entry in (str(HERE), os.environ.get("PYTHONPATH", "")) if entry)
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **(extra or {})}


def flask_argv(kind: str, port: int, app_dir: Path = HERE, module: str = "flask_app") -> list[str]:
    """The command line that serves a Flask module on ``port`` with server ``kind``."""
    if kind.startswith("gunicorn_"):
        return gunicorn_argv(kind.removeprefix("gunicorn_"), port, app_dir, f"{module}:app")
    if kind == "flask_run":
        return [sys.executable, "-m", "flask", "--app", module, "run", "--host", "127.0.0.1",
                "--port", str(port)]
    return [sys.executable, str(app_dir / f"{module}.py"), str(port), kind]


FLASK_SERVERS = ["gunicorn_gthread", "gunicorn_sync", "flask_run", "run_simple", "wsgiref"]
DJANGO_SERVERS = ["gunicorn_gthread", "gunicorn_sync", "runserver"]


@contextlib.contextmanager
def flask_server(kind: str) -> Iterator[Server]:
    """The framework tests' Flask app under ``kind``."""
    require_module("flask")
    port = free_port()
    with running(f"flask-{kind}", flask_argv(kind, port), port, cwd=HERE) as server:
        yield server


def migrate(site: Path, env: dict[str, str]) -> None:
    """Create the site's SQLite tables (auth, sessions) once, before any server starts."""
    process = Process([sys.executable, "manage.py", "migrate", "-v", "0"], name="django-migrate",
                      cwd=str(site), env=environment(env))
    with process:
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None:
            assert time.monotonic() < deadline, f"migrate did not finish:\n{process.output()}"
            time.sleep(0.1)  # a short-lived child: no event but its exit
    assert process.poll() == 0, process.output()


def django_argv(kind: str, port: int) -> list[str]:
    """The command line that serves a Django site on ``port`` with server ``kind``."""
    if kind == "runserver":
        return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    return gunicorn_argv(kind.removeprefix("gunicorn_"), port, DJANGO_SITE, "testsite.wsgi:application")


@contextlib.contextmanager
def django_server(kind: str, database: Path) -> Iterator[Server]:
    """The framework tests' Django site under ``kind``, on the migrated ``database``."""
    require_module("django")
    port = free_port()
    env = {"FAYE_DJANGO_DB": str(database)}
    with running(f"django-{kind}", django_argv(kind, port), port, cwd=DJANGO_SITE, env=env) as server:
        yield server


def cookie_from(headers: dict[str, str]) -> str:
    """The ``name=value`` part of a Set-Cookie header (the session cookie)."""
    return headers["set-cookie"].split(";", 1)[0]

