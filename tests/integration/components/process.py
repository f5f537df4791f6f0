"""Start, watch and stop one external program (a proxy, a browser, a node peer) for a test.

The program runs in its own session, so stopping it can signal its whole process group (squid's auth
helpers, chromium's renderers, nginx's workers) and nothing outlives the test.
"""

from __future__ import annotations

import collections
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import IO

import pytest

# Directories that hold daemons and helpers but are often missing from a non-root PATH.
_EXTRA_BIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/lib/squid")

# How many output lines a Process keeps for failure messages (chromium is chatty).
_OUTPUT_LINES_KEPT = 400

# How much of each log file output() appends.
_LOG_TAIL_CHARS = 4000

# Pause between connection attempts while waiting for a port: no event exists for "someone listens".
_PORT_POLL_INTERVAL = 0.01


def in_ci() -> bool:
    """Return True when running in CI (CI=true), where a missing component must fail, not skip."""
    return os.environ.get("CI") == "true"


def require(condition: bool, reason: str) -> None:
    """Fail (in CI) or skip (elsewhere) the current test with `reason` unless `condition` holds."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"missing in CI: {reason}")
    pytest.skip(reason)  # only outside CI (in_ci() is False here)


def require_executable(name: str) -> str:
    """Return the absolute path of the program `name` (a name on PATH, in an sbin dir, or a path).

    If it is missing the current test fails when CI=true and is skipped otherwise.
    """
    if os.path.isabs(name):
        found: str | None = name if os.access(name, os.X_OK) else None
    else:
        search = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_BIN_DIRS])
        found = shutil.which(name, path=search)
    require(found is not None, f"{name} is not installed (see .ci/run for the packages)")
    assert found is not None
    return found


# Ports handed to programs come from below the kernel's ephemeral range, which is where every bind to
# port 0 (our in-process servers) and every outgoing connection's source port lands: a port chosen in
# the ephemeral range and released can be given to one of those before the program binds it, and the
# program then fails while its readiness probe talks to the wrong listener. Each xdist worker draws
# from its own slice, so two workers never hand out the same port.
_EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
_LOWEST_CHOSEN_PORT = 10000  # above the registered ports that daemons here may hold
_DEFAULT_EPHEMERAL_LOW = 32768  # Linux's default when the range cannot be read


def _chosen_port_range() -> range:
    """The ports free_port() may hand out: between _LOWEST_CHOSEN_PORT and the ephemeral range."""
    try:
        with open(_EPHEMERAL_RANGE_FILE, encoding="ascii") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = _DEFAULT_EPHEMERAL_LOW
    return range(_LOWEST_CHOSEN_PORT, max(low, _LOWEST_CHOSEN_PORT + 1000))


def _worker_slice() -> range:
    """This xdist worker's share of the chosen ports (all of them without xdist)."""
    ports = _chosen_port_range()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker) if worker.isdigit() else 0
    size = len(ports) // max(count, 1)
    return ports[index * size:(index + 1) * size]


class _PortCounter:
    """Walks this worker's slice from a start drawn per process, so two test runs at once rarely meet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.slice = _worker_slice()
        self._next = random.randrange(len(self.slice))

    def take(self) -> int:
        with self._lock:
            port = self.slice[self._next % len(self.slice)]
            self._next += 1
            return port


_ports = _PortCounter()


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port, free on `host` right now, for a program that needs a port in its config.

    The port lies below the ephemeral range (see above), so no port-0 bind in this run can take it;
    another program on the machine still could, and the start helpers retry with a new port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(len(_ports.slice)):
        port = _ports.take()
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue  # held by someone else: try the next one
            return port
    raise RuntimeError(f"no free port on {host} in {_ports.slice}")


def port_is_open(host: str, port: int) -> bool:
    """Return True if a TCP connection to (host, port) succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 10.0, process: Process | None = None) -> None:
    """Block until (host, port) accepts TCP connections; raise TimeoutError after `timeout` seconds.

    If `process` is given and exits first, raise RuntimeError with its output instead.
    """
    deadline = time.monotonic() + timeout
    while not port_is_open(host, port):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.poll()} before listening on "
                               f"{host}:{port}\n{process.output()}")
        if time.monotonic() >= deadline:
            details = process.output() if process is not None else ""
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s\n{details}")
        time.sleep(_PORT_POLL_INTERVAL)


class Process:
    """A subprocess in its own session, with captured output, a readiness wait and a sure stop.

    Use as a context manager (or call start()/stop()). `ready_ports` are (host, port) pairs that must
    accept connections, `ready_line` a regex that must match one output line; start() waits for both
    until `ready_timeout` and raises with the captured output if the program exits or is too slow.
    stop() sends SIGTERM to the process group, SIGKILL after `term_grace` seconds, and waits until no
    live process of the group is left (bounded by `stop_timeout`). stdout and stderr are merged; the
    last lines (and the tails of `log_files`) are kept for failure messages. One reader thread per
    process, joined by stop().
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        ready_ports: Sequence[tuple[str, int]] = (),
        ready_line: str | None = None,
        ready_timeout: float = 10.0,
        term_grace: float = 5.0,
        stop_timeout: float = 10.0,
        log_files: Sequence[str] = (),
    ) -> None:
        self.argv = list(argv)
        self.name = name or os.path.basename(self.argv[0])
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.ready_ports = list(ready_ports)
        self.ready_line = re.compile(ready_line) if ready_line else None
        self.ready_timeout = ready_timeout
        self.term_grace = term_grace
        self.stop_timeout = stop_timeout
        self.log_files = list(log_files)
        self.ready_match: re.Match[str] | None = None
        self.startup_seconds = 0.0
        self._popen: subprocess.Popen[bytes] | None = None
        self._lines: collections.deque[str] = collections.deque(maxlen=_OUTPUT_LINES_KEPT)
        self._cond = threading.Condition()
        self._eof = False
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        """The process id (also its process group id). Raises RuntimeError before start()."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} not started")
        return self._popen.pid

    def poll(self) -> int | None:
        """Return the exit status if the main process has exited, else None."""
        return None if self._popen is None else self._popen.poll()

    def output(self) -> str:
        """Return the last captured output lines (stdout and stderr merged), then each log file's tail."""
        with self._cond:
            text = "".join(self._lines)
        for path in self.log_files:
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    tail = f.read()[-_LOG_TAIL_CHARS:]
            except OSError:
                continue
            text += f"\n--- {path} ---\n{tail}"
        return text

    def start(self) -> Process:
        """Start the program and wait until it is ready; on any failure stop it and raise."""
        started = time.monotonic()
        self._popen = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        assert self._popen.stdout is not None
        self._reader = threading.Thread(
            target=self._read_output, args=(self._popen.stdout,), name=f"output-{self.name}", daemon=True
        )
        self._reader.start()
        try:
            self._wait_ready(started + self.ready_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _read_output(self, stream: IO[bytes]) -> None:
        """Reader thread: collect lines, wake start() on each one and at EOF."""
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace")
                with self._cond:
                    self._lines.append(line)
                    if self.ready_line is not None and self.ready_match is None:
                        self.ready_match = self.ready_line.search(line)
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _wait_ready(self, deadline: float) -> None:
        """Wait for the ready line, then for every ready port, each bounded by `deadline`."""
        if self.ready_line is not None:
            with self._cond:
                while self.ready_match is None:
                    remaining = deadline - time.monotonic()
                    if self._eof or remaining <= 0:
                        what = "exited" if self._eof else f"was not ready after {self.ready_timeout} s"
                        raise RuntimeError(f"{self.name} {what} (waiting for /{self.ready_line.pattern}/)"
                                           f"\n{''.join(self._lines)}")
                    self._cond.wait(remaining)
        for host, port in self.ready_ports:
            wait_for_port(host, port, max(0.0, deadline - time.monotonic()), process=self)

    def stop(self) -> None:
        """Stop the whole process group (SIGTERM, then SIGKILL) and reap it. Safe to call twice."""
        popen = self._popen
        if popen is None:
            return
        _signal_group(popen.pid, signal.SIGTERM)
        try:
            popen.wait(self.term_grace)
        except subprocess.TimeoutExpired:
            _signal_group(popen.pid, signal.SIGKILL)
            popen.wait(self.stop_timeout)
        if not _wait_group_gone(popen.pid, self.stop_timeout):
            _signal_group(popen.pid, signal.SIGKILL)
            _wait_group_gone(popen.pid, self.stop_timeout)
        if self._reader is not None:
            self._reader.join(self.stop_timeout)

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group, ignoring a group that is already gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def live_group_members(pgid: int) -> list[int]:
    """Return the pids of live (not zombie) processes in process group `pgid`, read from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the ")" that closes the command name: state, ppid, pgrp (proc(5)).
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            members.append(int(entry))
    return members


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait up to `timeout` s until the group has no live member; return True if it is gone.

    Polled: the group's other members are not our children, so there is nothing to wait() on.
    """
    deadline = time.monotonic() + timeout
    while live_group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
