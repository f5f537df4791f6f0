"""Benchmark: fan-out of 16 B messages to 1,000 members, against a plain send() loop, same run.

Scenarios (each bounded in count and time):
1. one process, 1,000 WebSocket members: ``Group.publish`` (the shared writer) against the loop
   a user writes first, ``for ws in members: ws.send(message)``;
2. the same with one member that stopped reading (its socket and backlog full): the others'
   p50/p99 should not move for ``Group.publish`` (SKIP policy, so the stalled member stays),
   while the loop waits out that member's send timeout; and a 100-member group with the
   stalled member in it;
3. three examples/chat.py processes sharing one room through Redis (redis-server started
   here), 333 members on each, messages published by a client of the first process.

Members are raw client sockets read by one selector loop in a child process (so that reading
costs the server nothing); each message carries its publish time (monotonic microseconds, one
clock for every process of the machine), so latency is publish-to-receipt. p50/p99/max come from
100 messages published one at a time (each waits for its deliveries); deliveries per second from
400 messages in bursts of 20. Reported with the ratios between the rows.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faye_websocket import WebSocket  # noqa: E402
from faye_websocket.broadcast import Group, Overflow, broadcast  # noqa: E402
from faye_websocket.driver.http import parse_request  # noqa: E402

MEMBERS = 1000
SMALL_GROUP = 100  # a room-sized group, for the latency a stalled member must not change
LATENCY_MESSAGES = 100  # published one at a time (each waits for its deliveries): latency
THROUGHPUT_MESSAGES = 400  # published in bursts: deliveries per second
THROUGHPUT_BURST = 20
PROCESSES = 3
DEADLINE = 60.0  # seconds any one wait may take
STALLED_SEND_TIMEOUT = 1.0  # the send() loop gives up on the stalled member after this
STALLED_BUFFER = 4096  # its socket buffers, so that it fills quickly
PREFILL = 60_000  # bytes per prefill message that fill the stalled member's socket and backlog
PREFILL_COUNT = 20
MESSAGE_DIGITS = 16  # a 16-byte text message: 6 digits of sequence, 10 of microseconds


def stamp(sequence: int) -> str:
    """The 16-character message: sequence and publish time (monotonic microseconds mod 1e10)."""
    return f"{sequence % 10**6:06d}{(time.monotonic_ns() // 1000) % 10**10:010d}"


def handshake(port: int, path: str, rcvbuf: int | None = None) -> socket.socket:
    """A raw client connection that has completed the opening handshake (blocking)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(DEADLINE)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: nothing past the head is consumed
        if not chunk:
            raise ConnectionError("the server closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.decode("latin-1"))
    sock.setblocking(False)
    return sock


class Receivers:
    """Every member's client socket, in a child process (so that reading costs the server
    nothing); the parent tells it what to do through a pipe and reads its delivery count."""

    def __init__(self, targets: list[tuple[int, str]], stalled: tuple[int, str] | None = None) -> None:
        context = multiprocessing.get_context("spawn")  # the parent has threads: no fork
        self.count_value = context.Value("q", 0, lock=False)  # written by the child only
        self.pipe, child_end = context.Pipe()
        self.process = context.Process(target=receive, args=(targets, stalled, child_end, self.count_value),
                                       name="bench-receivers", daemon=True)
        self.process.start()
        if not self.pipe.poll(DEADLINE):
            raise TimeoutError("the receivers did not connect")
        self.pipe.recv()  # "ready"

    def count(self) -> int:
        return int(self.count_value.value)

    def wait_for(self, total: int) -> None:
        deadline = time.monotonic() + DEADLINE
        while self.count() < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.count()} of {total} deliveries within {DEADLINE} s")
            time.sleep(0.0002)

    def _ask(self, command: str) -> object:
        self.pipe.send(command)
        if not self.pipe.poll(DEADLINE):
            raise TimeoutError(f"the receivers did not answer {command!r}")
        return self.pipe.recv()

    def reset(self) -> None:
        self._ask("reset")

    def latencies(self) -> list[int]:
        found = self._ask("report")
        assert isinstance(found, list)
        return found

    def close(self) -> None:
        self._ask("stop")
        self.process.join(DEADLINE)


def receive(targets: list[tuple[int, str]], stalled: tuple[int, str] | None, pipe: Connection,
            count: Any) -> None:
    """The receivers' process: connect every member, then read and time messages until "stop"."""
    sockets = [handshake(port, path) for port, path in targets]
    held = handshake(*stalled, rcvbuf=STALLED_BUFFER) if stalled else None  # connected, never read
    selector = selectors.DefaultSelector()
    buffers = {sock: bytearray() for sock in sockets}
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    selector.register(pipe.fileno(), selectors.EVENT_READ)
    latencies: list[int] = []
    pipe.send("ready")
    while True:
        for key, _ in selector.select(1.0):
            if key.fileobj == pipe.fileno():
                command = pipe.recv()
                if command == "stop":
                    for sock in [*sockets, *([held] if held else [])]:
                        sock.close()
                    pipe.send("stopped")
                    return
                if command == "report":
                    pipe.send(latencies)
                else:  # reset
                    latencies = []
                    count.value = 0
                    pipe.send("ok")
                continue
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            if data:
                found = parse(buffers[sock], data)
                latencies += found
                count.value += len(found)


def parse(buffer: bytearray, data: bytes) -> list[int]:
    """Latencies (microseconds) of the whole 16-byte text messages in ``buffer`` + ``data``."""
    buffer += data
    now = (time.monotonic_ns() // 1000) % 10**10
    found = []
    while len(buffer) >= 2:
        length = buffer[1] & 0x7F
        header = 2 if length < 126 else 4
        if length == 126 and len(buffer) >= 4:
            length = int.from_bytes(buffer[2:4], "big")
        if len(buffer) < header + length:
            break
        if buffer[0] == 0x81 and length == MESSAGE_DIGITS:
            found.append((now - int(buffer[header + 6 : header + 16])) % 10**10)
        del buffer[: header + length]
    return found


class Server:
    """Accepts connections and makes each a server WebSocket (no reader thread: members only
    receive); ``stalled_path`` gets small buffers and a short send timeout."""

    def __init__(self, stalled_path: str) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=MEMBERS + 10)
        self.port = self.listener.getsockname()[1]
        self.members: list[WebSocket] = []
        self.stalled: WebSocket | None = None
        self.stalled_path = stalled_path
        self.thread = threading.Thread(target=self._accept, name="bench-accept", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            request = parse_request(head[:-4])
            stalled = request.target == self.stalled_path
            if stalled:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STALLED_BUFFER)
            ws = WebSocket(request, sock, send_timeout=STALLED_SEND_TIMEOUT if stalled else 30.0)
            if stalled:
                self.stalled = ws
            self.members.append(ws)

    def close(self) -> None:
        self.listener.close()
        for ws in self.members:
            ws.connection.abort("bench over")


@dataclass
class Result:
    name: str
    deliveries_per_second: float  # with bursts of THROUGHPUT_BURST messages
    p50_ms: float  # one message at a time, publish to receipt
    p99_ms: float
    max_ms: float


def run(publish: Callable[[str], object], receivers: Receivers, members: int, messages: int,
        burst: int) -> tuple[float, list[int]]:
    """Publish ``messages`` in bursts of ``burst``, waiting for each burst's deliveries; return
    the deliveries per second and every delivery's latency (microseconds)."""
    receivers.reset()
    started = time.monotonic()
    sequence = 0
    while sequence < messages and time.monotonic() - started < DEADLINE:
        for _ in range(burst):
            publish(stamp(sequence))
            sequence += 1
        receivers.wait_for(sequence * members)
    elapsed = time.monotonic() - started
    latencies = receivers.latencies()
    return len(latencies) / elapsed, latencies


def measure(name: str, publish: Callable[[str], object], receivers: Receivers, members: int) -> Result:
    """Latency one message at a time, then throughput with bursts."""
    _, latencies = run(publish, receivers, members, LATENCY_MESSAGES, 1)
    rate, _ = run(publish, receivers, members, THROUGHPUT_MESSAGES, THROUGHPUT_BURST)
    latencies.sort()

    def pick(fraction: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * fraction))] / 1000

    return Result(name, rate, pick(0.50), pick(0.99), latencies[-1] / 1000)


def wait_members(server: Server, count: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while len(server.members) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(server.members)} of {count} members connected")
        time.sleep(0.01)


def in_process() -> list[Result]:
    server = Server("/stalled")
    receivers = Receivers([(server.port, f"/m{number}") for number in range(MEMBERS)],
                          stalled=(server.port, "/stalled"))
    wait_members(server, MEMBERS + 1)
    stalled = server.stalled
    assert stalled is not None
    healthy = [ws for ws in server.members if ws is not stalled]
    group = Group("bench", overflow=Overflow.SKIP)  # SKIP: the stalled member stays stalled
    for ws in healthy:
        group.join(ws)
    results = [
        measure("Group.publish, 1,000 members", group.publish, receivers, MEMBERS),
        measure("send() loop, 1,000 members", lambda m: [ws.send(m) for ws in healthy], receivers, MEMBERS),
    ]
    # One member stops reading: fill its socket and its backlog, then publish to everybody.
    for _ in range(PREFILL_COUNT):
        broadcast([stalled], "x" * PREFILL, overflow=Overflow.SKIP)
    group.join(stalled)
    results.append(measure("Group.publish, one member stalled", group.publish, receivers, MEMBERS))
    small = Group("small", overflow=Overflow.SKIP)
    for ws in [stalled, *healthy[: SMALL_GROUP - 1]]:
        small.join(ws)
    results.append(measure(f"Group.publish, {SMALL_GROUP} members, one stalled", small.publish, receivers,
                           SMALL_GROUP - 1))
    small.close()
    everyone = [stalled, *healthy]  # where it sits decides who waits behind it: first, everybody
    results.append(measure("send() loop, one member stalled",
                           lambda m: [ws.send(m) for ws in everyone], receivers, MEMBERS))
    group.close()
    receivers.close()
    server.close()
    return results


def through_redis() -> list[Result]:
    redis_server = shutil.which("redis-server", path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin")
    if redis_server is None:
        print("  (redis-server is not installed: the cross-process scenario is left out)")
        return []
    redis_port = free_port()
    processes = [subprocess.Popen([redis_server, "--port", str(redis_port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)]
    try:
        wait_port(redis_port)
        ports = [free_port() for _ in range(PROCESSES)]
        for port in ports:
            processes.append(subprocess.Popen(
                [sys.executable, str(ROOT / "examples" / "chat.py"), str(port), "--redis",
                 f"redis://127.0.0.1:{redis_port}/0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in ports:
            wait_port(port)
        per_process = MEMBERS // PROCESSES
        members = per_process * PROCESSES
        receivers = Receivers([(port, "/chat/bench") for port in ports for _ in range(per_process)])
        publisher = handshake(ports[0], "/chat/bench")
        publisher.setblocking(True)
        # Every process follows a new room's stream within 0.2 s: wait until one message reaches all.
        warm_until = time.monotonic() + DEADLINE
        while time.monotonic() < warm_until:
            receivers.reset()
            publisher.sendall(masked_text(stamp(0)))
            time.sleep(0.5)
            if receivers.count() >= members:
                break
        result = measure(f"3 processes through Redis, {members} members",
                         lambda m: publisher.sendall(masked_text(m)), receivers, members)
        receivers.close()
        publisher.close()
        return [result]
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def masked_text(text: str) -> bytes:
    """A client text frame (masked with a zero key: RFC 6455 requires the bit, not the entropy)."""
    payload = text.encode()
    return bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def main() -> None:
    results = in_process() + through_redis()
    print(f"  {'scenario':42} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for row in results:
        print(f"  {row.name:42} {row.deliveries_per_second:13,.0f} {row.p50_ms:8.1f} {row.p99_ms:8.1f} "
              f"{row.max_ms:8.1f}")
    by_name = {row.name: row for row in results}
    group, loop = by_name["Group.publish, 1,000 members"], by_name["send() loop, 1,000 members"]
    stalled = by_name["Group.publish, one member stalled"]
    ratio = group.deliveries_per_second / loop.deliveries_per_second
    print(f"  Group.publish / send() loop, deliveries/s: {ratio:.2f}")
    print(f"  Group.publish p99, one member stalled / none stalled: {stalled.p99_ms / group.p99_ms:.2f}")


if __name__ == "__main__":
    main()
