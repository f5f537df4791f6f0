"""Benchmark: echo throughput of our server against python websockets and node ws, same run.

Each server runs in its own process on 127.0.0.1; one load process drives it with raw sockets
(pre-masked frames, a selector, no WebSocket library), so the client costs the same for every
server. Reported: small-message round trips per second over many connections, 1 MiB echo
throughput on one connection, and the server's resident memory per open connection. Every loop
is bounded in count and in time.
"""

from __future__ import annotations

import base64
import os
import selectors
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 50
ROUND_TRIPS = 400  # per connection
MANY_CONNECTIONS = 1000
MANY_ROUND_TRIPS = 20  # per connection, with MANY_CONNECTIONS
SMALL = 32
LARGE = 1 << 20
LARGE_COUNT = 20
DEADLINE = 60.0  # seconds per measurement, at most

FAYE_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler
from faye_websocket import WebSocket
from faye_websocket.server.http_server import WebSocketHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        ws = WebSocket.from_handler(self)
        ws.on("message", lambda event: ws.send(event.data))
        ws.run()
    def log_message(self, *args):
        pass

WebSocketHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

WEBSOCKETS_SERVER = """
import sys
from websockets.sync.server import serve

def echo(ws):
    for message in ws:
        ws.send(message)

with serve(echo, "127.0.0.1", int(sys.argv[1]), compression=None, max_size=None) as server:
    server.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"server did not start: {argv}")


def masked(payload: bytes, opcode: int = 0x1) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0xFE]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0xFF]) + n.to_bytes(8, "big")
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return head + key + (int.from_bytes(payload, "big") ^ mask).to_bytes(n, "big") if n else head + key


def open_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("handshake failed")
        head += chunk
    if b" 101 " not in head.split(b"\r\n")[0] + b" ":
        raise RuntimeError(head.decode(errors="replace"))
    return sock


def small_round_trips(port: int, connections: int = CONNECTIONS, round_trips: int = ROUND_TRIPS) -> float:
    socks = [open_socket(port) for _ in range(connections)]
    frame, echo_length = masked(b"x" * SMALL), 2 + SMALL
    selector = selectors.DefaultSelector()
    state = {}
    start_time = time.monotonic()
    for sock in socks:
        sock.setblocking(False)
        sock.send(frame)
        selector.register(sock, selectors.EVENT_READ)
        state[sock] = [round_trips, b""]
    done = 0
    while state and time.monotonic() - start_time < DEADLINE:
        for key, _ in selector.select(timeout=5):
            sock = key.fileobj
            entry = state[sock]  # type: ignore[index]
            entry[1] += sock.recv(65536)  # type: ignore[union-attr]
            while len(entry[1]) >= echo_length and entry[0] > 0:
                entry[1] = entry[1][echo_length:]
                entry[0] -= 1
                done += 1
                if entry[0]:
                    sock.send(frame)  # type: ignore[union-attr]
            if entry[0] == 0:
                selector.unregister(sock)
                del state[sock]  # type: ignore[arg-type]
    elapsed = time.monotonic() - start_time
    for sock in socks:
        sock.close()
    return done / elapsed


def large_echo(port: int) -> float:
    sock = open_socket(port)
    frame = masked(b"\xfe" * LARGE, 0x2)
    start_time = time.monotonic()
    moved = 0
    for _ in range(LARGE_COUNT):
        sock.sendall(frame)
        need, got = LARGE + 10, 0
        while got < need and time.monotonic() - start_time < DEADLINE:
            got += len(sock.recv(1 << 20))
        moved += LARGE
    elapsed = time.monotonic() - start_time
    sock.close()
    return moved / elapsed / (1 << 20)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory_per_connection(process: subprocess.Popen[bytes], port: int, count: int = 200) -> float:
    before = rss_kib(process.pid)
    socks = [open_socket(port) for _ in range(count)]
    time.sleep(0.5)
    after = rss_kib(process.pid)
    for sock in socks:
        sock.close()
    return (after - before) / count


def measure(name: str, argv: list[str], port: int) -> dict[str, float]:
    process = start(argv, port)
    try:
        # The 1,000-connection run goes last: the server is still ending those connections after.
        return {"round trips/s": small_round_trips(port), "1 MiB echo MiB/s": large_echo(port),
                "KiB per connection": memory_per_connection(process, port),
                "at 1000 conns": small_round_trips(port, MANY_CONNECTIONS, MANY_ROUND_TRIPS)}
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    servers: dict[str, tuple[list[str], int]] = {}
    port = free_port()
    servers["faye_websocket (thread per connection)"] = ([sys.executable, "-c", FAYE_SERVER, str(port)], port)
    port = free_port()
    servers["python websockets 17 sync"] = ([sys.executable, "-c", WEBSOCKETS_SERVER, str(port)], port)
    node_server = ROOT / "tests" / "peers" / "ws_echo_server.js"
    if shutil.which("node") and (ROOT / "tests" / "peers" / "node_modules" / "ws").exists():
        port = free_port()
        servers["node ws 8"] = (["node", str(node_server), str(port)], port)
    results = {name: measure(name, argv, port) for name, (argv, port) in servers.items()}
    ours = results["faye_websocket (thread per connection)"]
    print(f"echo servers: {CONNECTIONS} connections x {ROUND_TRIPS} round trips of {SMALL} bytes; "
          f"{LARGE_COUNT} x 1 MiB; memory over 200 idle connections; "
          f"{MANY_CONNECTIONS} connections x {MANY_ROUND_TRIPS} round trips")
    for name, values in results.items():
        cells = "  ".join(f"{metric} {value:9.1f} ({value / ours[metric]:4.2f}x)" if ours[metric] else ""
                          for metric, value in values.items())
        print(f"  {name:40s} {cells}")


if __name__ == "__main__":
    main()
