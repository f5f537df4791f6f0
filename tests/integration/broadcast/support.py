"""Real components for the multi-process broadcast tests: redis-server, chat processes, haproxy or
nginx in front of them (configured by docs/scaling.md's blocks, as written), and a TCP relay a
test can cut to drop one process's link to Redis.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.integration.components import Process, free_port, require_executable
from tests.integration.components.reverse_proxies import nginx_config
from tests.paths import EXAMPLES, REPO_ROOT

LOOPBACK = "127.0.0.1"
CHAT = EXAMPLES / "chat.py"
SCALING = REPO_ROOT / "docs" / "scaling.md"
DOC_BACKENDS = ("127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003")  # the page's chat processes
DOC_LISTEN = {"haproxy": ("bind :80", "bind {address}"), "nginx": ("listen 80;", "listen {address};")}
_RELAY_CHUNK = 65536


class RedisServer:
    """A redis-server on a fixed loopback port, without persistence; ``restart()`` keeps the port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> RedisServer:
        argv = [require_executable("redis-server"), "--port", str(self.port), "--bind", LOOPBACK,
                "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.process = Process(argv, name="redis-server", ready_ports=[(LOOPBACK, self.port)])
        self.process.start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def run_redis(workdir: Path) -> Iterator[RedisServer]:
    """redis-server on a free port for the test; stopped on exit."""
    server = RedisServer(workdir).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class ChatProcess:
    """One ``examples/chat.py`` process."""

    port: int
    process: Process

    @property
    def pid(self) -> int:
        return self.process.pid


def start_chat(redis_url: str) -> ChatProcess:
    """examples/chat.py PORT --redis URL, started until it listens."""
    port = free_port()
    process = Process([sys.executable, str(CHAT), str(port), "--redis", redis_url], name=f"chat-{port}",
                      ready_ports=[(LOOPBACK, port)], cwd=str(REPO_ROOT))
    process.start()
    return ChatProcess(port, process)


def start_proxy(kind: str, workdir: Path, backend_ports: list[int]) -> tuple[Process, int]:
    """haproxy or nginx (``kind``) as docs/scaling.md configures it, listening on a free port in
    front of ``backend_ports`` instead of the page's; returns the running process and its port."""
    (block,) = re.findall(rf"^```{kind}\n(.*?)^```", SCALING.read_text(encoding="utf-8"), re.S | re.M)
    port = free_port()
    documented, ours = DOC_LISTEN[kind]
    block = block.replace(documented, ours.format(address=f"{LOOPBACK}:{port}"))
    for documented, backend in zip(DOC_BACKENDS, backend_ports, strict=True):
        block = block.replace(documented, f"{LOOPBACK}:{backend}")
    if kind == "nginx":
        (workdir / "tmp").mkdir(exist_ok=True)
        conf = workdir / "nginx.conf"
        conf.write_text(nginx_config(workdir, block))
        log = str(workdir / "error.log")
        argv = [require_executable("nginx"), "-p", str(workdir), "-c", str(conf), "-e", log]
    else:
        conf = workdir / "haproxy.cfg"
        conf.write_text(block)
        argv = [require_executable(kind), "-db", "-f", str(conf)]
    process = Process(argv, name=kind, cwd=str(workdir), ready_ports=[(LOOPBACK, port)])
    process.start()
    return process, port


class Relay:
    """A loopback TCP relay to ``target_port``; ``cut()`` drops every connection and refuses new
    ones (accepted then closed) until ``restore()``. One thread accepts, two per connection copy."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self._cut = False
        self.refused = 0  # connections refused while cut
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="test-relay")
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._cut:
                    client.close()
                    self.refused += 1
                    continue
                try:
                    upstream = socket.create_connection((LOOPBACK, self.target_port), timeout=2)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self._pairs.append((client, upstream))
                for a, b in ((client, upstream), (upstream, client)):
                    thread = threading.Thread(target=_copy, args=(a, b), name="test-relay-copy")
                    self._threads.append(thread)
                    thread.start()

    def cut(self) -> None:
        """Drop every relayed connection and refuse new ones."""
        with self._lock:
            self._cut = True
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        """Relay new connections again."""
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        self._stop.set()
        self._acceptor.join(5)
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


def _copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(_RELAY_CHUNK)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            source.close()


def wait_until(condition, timeout: float, message: str) -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition`` until true; AssertionError with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.01)
