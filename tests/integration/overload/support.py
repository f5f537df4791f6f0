"""Overload scenarios against a server in a subprocess, and what they measure.

The server runs in its own process (``ServerProcess``) so that its resources can be read from
/proc and limited (``RLIMIT_NOFILE``) without touching the test process. Each scenario is one
function that floods the server in a bounded number of steps and seconds and returns what it saw
(a ``dict``); the tests assert on those numbers and ``scripts/overload`` prints them as the table
of the issue's note. The attacking side is plain sockets driven by one thread through a selector,
so thousands of connections cost the test process descriptors, not threads.
"""

from __future__ import annotations

import base64
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "examples" / "server.py"
LISTENING = re.compile(r"://([^/:]+|\[[^\]]+\]):(\d+)/")
STARTUP_TIMEOUT = 20.0  # seconds a server may take to print its URL
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20
ECHO_PAYLOAD = b"still serving"
CONNECT_TIMEOUT = 5.0  # seconds for one TCP connect or one response on loopback
TEXT, BINARY, CONTINUATION, CLOSE = 0x1, 0x2, 0x0, 0x8

# The servers a scenario can run against: the demo and the command line as shipped, the
# socketserver adapter, and the bare reference (tests/integration/overload/servers.py).
COMMANDS: dict[str, list[str]] = {
    "demo": [sys.executable, str(DEMO), "0"],
    "serve": [sys.executable, "-m", "faye_websocket", "serve", "0"],
    "raw": [sys.executable, "-m", "tests.integration.overload.servers", "raw"],
    "bare": [sys.executable, "-m", "tests.integration.overload.servers", "bare"],
}


@dataclass
class Usage:
    """A server process's resources at one moment (from /proc/PID)."""

    rss_mib: float
    peak_rss_mib: float  # VmHWM: the highest RSS since the process started
    threads: int
    fds: int
    cpu_seconds: float  # user + system time since the process started


class ServerProcess:
    """A server started as a subprocess and stopped by its pid.

    ``kind`` names a command of ``COMMANDS``; ``nofile`` lowers the process's soft descriptor
    limit (RLIMIT_NOFILE) before it starts; ``args`` are appended to the command line.
    The server's standard error goes to a temporary file, read by ``log()``.
    """

    def __init__(self, kind: str, *args: str, nofile: int | None = None) -> None:
        self.kind = kind
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            [*COMMANDS[kind], *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log,
            stdin=subprocess.DEVNULL, preexec_fn=(lambda: _limit_descriptors(nofile)) if nofile else None,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        )
        try:
            self.port = self._read_port()
        except BaseException:
            self.stop()
            raise

    def _read_port(self) -> int:
        assert self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = b""
        try:
            while time.monotonic() < deadline:
                if not selector.select(deadline - time.monotonic()):
                    continue
                line = self.process.stdout.readline()
                if not line:
                    break
                found = LISTENING.search(line.decode(errors="replace"))
                if found:
                    return int(found.group(2))
        finally:
            selector.close()
        raise AssertionError(f"{self.kind} server did not start: {line!r} {self.log()[-2000:]}")

    def usage(self) -> Usage:
        """The server's RSS, peak RSS, threads, open descriptors and CPU time now."""
        pid = self.process.pid
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return Usage(
            rss_mib=int(fields["VmRSS"].split()[0]) / 1024,
            peak_rss_mib=int(fields["VmHWM"].split()[0]) / 1024,
            threads=int(fields["Threads"]),
            fds=len(os.listdir(f"/proc/{pid}/fd")),
            cpu_seconds=(int(stat[11]) + int(stat[12])) / CLOCK_TICKS,
        )

    def alive(self) -> bool:
        """True while the server process runs."""
        return self.process.poll() is None

    def log(self) -> str:
        """Everything the server wrote to standard error so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``; waits for the process and closes pipes."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _limit_descriptors(nofile: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))


def raise_own_descriptor_limit(wanted: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE to ``wanted`` (bounded by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


# -- the client side, by hand ---------------------------------------------------------------


def upgrade_request(path: str = "/") -> bytes:
    """A hybi-13 upgrade request head (RFC 6455 section 4.1)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A client frame masked with the all-zero key (valid on the wire, and free to compute)."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        head = bytes([first, 0x80 | length])
    elif length < 65536:
        head = bytes([first, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([first, 0x80 | 127]) + length.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def read_head(sock: socket.socket) -> tuple[int, bytes, bytes]:
    """The response's status, its head, and whatever came after it (EOFError if closed first)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise EOFError(f"closed before a response head: {buffer[:200]!r}")
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, rest


def open_websocket(port: int, timeout: float = CONNECT_TIMEOUT) -> tuple[socket.socket, bytes]:
    """A handshaken WebSocket as a plain socket and the bytes read past the 101."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(upgrade_request())
        status, _head, rest = read_head(sock)
        if status != 101:
            raise ConnectionRefusedError(f"status {status}")
    except BaseException:
        sock.close()
        raise
    return sock, rest


def echo_once(port: int, timeout: float = CONNECT_TIMEOUT) -> float:
    """Connect, upgrade, send one message and wait for its echo; returns the seconds it took.

    Raises OSError (timeouts included), EOFError or ConnectionRefusedError (not a 101).
    """
    started = time.monotonic()
    sock, buffer = open_websocket(port, timeout)
    with sock:
        sock.sendall(frame(TEXT, ECHO_PAYLOAD))
        while ECHO_PAYLOAD not in buffer:
            data = sock.recv(65536)
            if not data:
                raise EOFError("closed before the echo")
            buffer += data
        sock.sendall(frame(CLOSE, (1000).to_bytes(2, "big")))
    return time.monotonic() - started


def served_within(port: int, limit: float, *, attempt_timeout: float = CONNECT_TIMEOUT) -> float | None:
    """Seconds until a legitimate echo succeeds (retrying), or None if not within ``limit``."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            echo_once(port, min(attempt_timeout, max(0.1, limit - (time.monotonic() - started))))
            return time.monotonic() - started
        except (OSError, EOFError):
            time.sleep(0.2)  # a refused or cut attempt: retry like a client would, not in a tight loop
    return None


def open_silent(port: int, count: int) -> list[socket.socket]:
    """``count`` TCP connections that send nothing (non-blocking connects, not waited for)."""
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        sockets.append(sock)
    return sockets


def close_all(sockets: list[socket.socket]) -> None:
    """Close every socket (each FIN; a reset where the server's bytes were left unread)."""
    for sock in sockets:
        sock.close()


def cpu_share(server: ServerProcess, seconds: float) -> float:
    """The server's CPU use over the next ``seconds`` as a share of one core."""
    before, started = server.usage().cpu_seconds, time.monotonic()
    time.sleep(seconds)  # a measurement window, not a synchronisation
    return (server.usage().cpu_seconds - before) / (time.monotonic() - started)


# -- scenarios ------------------------------------------------------------------------------


def silent_flood(server: ServerProcess, count: int, *, window: float = 3.0,
                 limit: float = 20.0) -> dict[str, Any]:
    """``count`` silent connections (past the server's descriptor limit); then its CPU over
    ``window`` seconds and how soon a legitimate client is served, while the flood stays."""
    flood = open_silent(server.port, count)
    try:
        time.sleep(0.5)  # let the server's accept loop meet the flood before measuring it
        share = cpu_share(server, window)
        usage = server.usage()
        served = served_within(server.port, limit)
        return {"cpu_share": round(share, 2), "served_after_s": None if served is None else round(served, 1),
                **asdict(usage)}
    finally:
        close_all(flood)


def slowloris(server: ServerProcess, count: int, *, limit: float = 20.0,
              interval: float = 1.0) -> dict[str, Any]:
    """``count`` connections sending a request head one byte per ``interval``; returns how many the
    server cut within ``limit`` seconds and when the last of them was cut."""
    selector = selectors.DefaultSelector()
    started = time.monotonic()
    live: dict[socket.socket, int] = {}
    cut_at: list[float] = []
    drip = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 100000
    for sock in open_silent(server.port, count):
        live[sock] = 0
        selector.register(sock, selectors.EVENT_READ)
    peak: Usage | None = None
    try:
        next_drip = started
        while live and time.monotonic() - started < limit + 2:
            for key, _ in selector.select(max(0.0, next_drip - time.monotonic())):
                if _cut(key.fileobj):  # type: ignore[arg-type]
                    _forget(selector, live, key.fileobj, cut_at, started)  # type: ignore[arg-type]
            if time.monotonic() >= next_drip:
                for sock in list(live):
                    try:
                        sock.send(drip[live[sock]:live[sock] + 1])
                        live[sock] += 1
                    except BlockingIOError:
                        pass  # still connecting (in the backlog): nothing sent yet
                    except OSError:
                        _forget(selector, live, sock, cut_at, started)
                next_drip += interval
                if peak is None and time.monotonic() - started > limit / 2:
                    peak = server.usage()
        within = sum(1 for t in cut_at if t <= limit)
        last = round(max(cut_at), 1) if cut_at else None
        return {"cut_within_limit": within, "of": count, "last_cut_s": last,
                **asdict(peak or server.usage())}
    finally:
        selector.close()
        close_all(list(live))


def _cut(sock: socket.socket) -> bool:
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def _forget(selector: selectors.BaseSelector, live: dict[socket.socket, int], sock: socket.socket,
            cut_at: list[float], started: float) -> None:
    if sock in live:
        del live[sock]
        selector.unregister(sock)
        cut_at.append(time.monotonic() - started)
        sock.close()


def unfinished_messages(server: ServerProcess, count: int, size: int, *, fragment: int = MIB,
                        limit: float = 120.0) -> dict[str, Any]:
    """``count`` connections each sending ``size`` bytes of a fragmented message that never
    ends; returns the server's peak RSS, how many it refused (and with which close codes) and
    whether a legitimate client is served meanwhile."""
    held: list[socket.socket] = []
    codes: dict[str, int] = {}
    payload = b"\x5a" * fragment
    started = time.monotonic()
    try:
        for _ in range(count):
            if time.monotonic() - started > limit:
                break
            sock, _rest = open_websocket(server.port, timeout=30.0)
            held.append(sock)
            try:
                for index in range(size // fragment):
                    sock.sendall(frame(BINARY if index == 0 else CONTINUATION, payload, fin=False))
            except OSError:
                code = _close_code(sock)
                codes[str(code)] = codes.get(str(code), 0) + 1
        usage = server.usage()
        served = served_within(server.port, 20.0)
        return {"refused": sum(codes.values()), "close_codes": codes, "alive": server.alive(),
                "served_after_s": None if served is None else round(served, 1),
                "seconds": round(time.monotonic() - started, 1), **asdict(usage)}
    finally:
        close_all(held)


def _close_code(sock: socket.socket) -> int | None:
    """The close code of the server's close frame if one is readable now (after a failed send)."""
    sock.settimeout(1.0)
    data = b""
    try:
        while len(data) < 4:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    index = data.find(b"\x88")
    if index < 0 or len(data) < index + 4:
        return None
    return int.from_bytes(data[index + 2:index + 4], "big")


def open_many_websockets(port: int, count: int, *, limit: float = 120.0) -> list[socket.socket]:
    """``count`` handshaken WebSockets, connected and read in batches through one selector."""
    sockets: list[socket.socket] = []
    started = time.monotonic()
    batch = 200
    while len(sockets) < count:
        if time.monotonic() - started > limit:
            close_all(sockets)
            raise TimeoutError(f"only {len(sockets)} of {count} WebSockets opened in {limit} s")
        pending = []
        for _ in range(min(batch, count - len(sockets))):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30.0)
            sock.sendall(upgrade_request())
            pending.append(sock)
        for sock in pending:
            status, _head, _rest = read_head(sock)
            if status != 101:
                close_all(pending + sockets)
                raise ConnectionRefusedError(f"status {status} after {len(sockets)} WebSockets")
            sockets.append(sock)
    return sockets


def mass_disconnect(server: ServerProcess, count: int, *, limit: float = 120.0) -> dict[str, Any]:
    """``count`` idle WebSockets whose clients all vanish at once (FIN, no close frame), then the
    seconds a legitimate echo takes; with the server's resources while they were connected."""
    base = server.usage()
    sockets = open_many_websockets(server.port, count)
    loaded = server.usage()
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    close_all(sockets)
    try:
        echo = echo_once(server.port, timeout=limit)
    except (OSError, EOFError):
        echo = float("inf")
    per_connection = round((loaded.rss_mib - base.rss_mib) * 1024 / count, 1)
    return {"echo_s": round(echo, 2), "kib_per_connection": per_connection,
            **asdict(loaded)}

