#!/usr/bin/env python3
"""Benchmark: user-space instructions per message of our server, client and EventSource, and the peers'.

scripts/bench_hotpath.py measures rates and CPU microseconds, which swing by up to 2x from run to
run on a shared machine. This counts instructions instead, with valgrind's callgrind: the same
process given the same work executes the same instructions, whatever else the machine does. Each
figure is the difference between two runs of one process, with N1 and with N2 messages (or
connections), divided by N2 - N1: interpreter start-up, imports and the first handshake cancel
out. Only user space is counted (the kernel's share of a system call, loopback TCP, is not): this
is the Python work per message, the part this project controls. Node peers are not measured (a
JIT under valgrind says little); their yardsticks stay in bench_hotpath.

    scripts/bench                     (runs this with the other benchmarks; skipped without valgrind)
    python scripts/bench_instructions.py [--only SUBSTRING] [--compare CHECKOUT]

Every run is bounded (RUN_TIMEOUT); a process under valgrind runs 20-50x slower than natively,
so the counts are small. The whole set takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import bench_hotpath as hot

START_TIMEOUT = 120.0  # seconds for a process under valgrind to be ready (imports run 20-50x slower)
RUN_TIMEOUT = 300.0  # seconds for one load run, one client phase or one dump under valgrind
SETTLE = 0.3  # seconds after a run before its dump, the same every time (idle timers run meanwhile)
WARM_COUNT = 20  # messages (connections) of the warm-up run: lazy imports, first-use caches
_SUMMARY = re.compile(r"^summary: (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Count:
    """One row: a workload and the message counts of its two runs."""

    name: str
    group: str  # "server", "client" or "sse"
    options: dict[str, object]
    small: int
    large: int


COUNTS = [
    Count("server, 16 B round trips", "server", {"mode": "rt"}, 200, 1200),
    Count("server, 1 KiB round trips", "server", {"mode": "rt", "size": 1024}, 200, 1200),
    Count("server, permessage-deflate 1 KiB JSON", "server",
          {"mode": "deflate", "json": hot.JSON_1K}, 200, 1200),
    Count("server, sequential connect + close", "server", {"mode": "connect"}, 20, 120),
    Count("client, 16 B round trips", "client", {"workload": "rt"}, 100, 1100),
    Count("client, connect + close", "client", {"workload": "connect"}, 10, 60),
    Count("EventSource, 1 reader", "sse", {"readers": 1}, 2000, 12000),
]

PEERS = {"server": ["ours", "websockets", "minimal"], "client": ["ours", "websockets", "minimal"],
         "sse": ["ours", "minimal sse nodelay"]}

# The client process: phases of bench_hotpath's client loops, each followed by a pause in which the
# parent dumps the counts (a process asleep in a short sleep() still answers callgrind_control).
CLIENT = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[2])  # minimal_ws
kind, port, flags = sys.argv[3], int(sys.argv[4]), sys.argv[5]
phases = json.loads(sys.argv[6])
url = f"ws://127.0.0.1:{port}/"
if kind in ("ours", "before"):
    import faye_websocket
    def open_():
        return faye_websocket.connect(url)
elif kind == "websockets":
    from websockets.sync.client import connect
    def open_():
        return connect(url, compression=None, max_size=None)
else:
    import minimal_ws
    def open_():
        return minimal_ws.Client("127.0.0.1", port)
ws = open_()
for index, (workload, count) in enumerate(phases):
    for _ in range(count):
        if workload == "rt":
            ws.send("x" * 16)
            ws.recv()
        else:
            open_().close()
    print(index, flush=True)
    flag, deadline = os.path.join(flags, str(index)), time.monotonic() + 300
    while not os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.02)
ws.close()
"""


class Counted:
    """A process under callgrind whose counts are dumped (and so zeroed) on demand."""

    def __init__(self, argv: list[str], out: Path, **popen: object) -> None:
        self.out = out
        self.dumps = 0
        self.process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
            cwd=hot.ROOT, stderr=subprocess.DEVNULL, **popen)  # type: ignore[call-overload]

    def dump(self) -> int:
        """Instructions executed since the last dump (or the start)."""
        subprocess.run(["callgrind_control", "-d", str(self.process.pid)], capture_output=True,
                       timeout=RUN_TIMEOUT, check=True)
        self.dumps += 1
        path = Path(f"{self.out}.{self.dumps}")
        found = _SUMMARY.search(path.read_text()) if path.exists() else None
        if found is None:
            raise RuntimeError(f"callgrind wrote no dump {path}")
        return int(found.group(1))

    def stop(self) -> None:
        """End the process (bounded)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until ``process`` accepts on ``port`` (bounded by START_TIMEOUT)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not listen in time")


def drive(port: int, count: Count, messages: int) -> None:
    """One run of bench_hotpath's load generator against a server."""
    if count.group == "sse":
        hot.drive(port, "sse", {**count.options, "path": f"/?n={messages}&m=" + "x" * 32}, None)
    else:
        hot.drive(port, "ws", {**count.options, "count": messages}, None)
    time.sleep(SETTLE)


def measure_server(peer: str, argv: list[str], counts: list[Count], tmp: Path) -> dict[str, float]:
    """Instructions per message of one server process over ``counts`` (one group)."""
    port = hot.free_port()
    out = tmp / f"{peer}.out".replace(" ", "-")
    server = Counted([arg.replace("{port}", str(port)) for arg in argv], out, stdout=subprocess.DEVNULL)
    try:
        wait_listening(port, server.process)
        for count in counts:
            drive(port, count, WARM_COUNT)
        server.dump()
        found = {}
        for count in counts:
            drive(port, count, count.small)
            small = server.dump()
            drive(port, count, count.large)
            found[count.name] = (server.dump() - small) / (count.large - count.small)
        return found
    finally:
        server.stop()


def measure_client(peer: str, counts: list[Count], node_port: int, tmp: Path) -> dict[str, float]:
    """Instructions per message of one client process over ``counts``."""
    flags = tmp / f"flags-{peer}"
    flags.mkdir()
    root = hot.COMPARE if peer == "before" and hot.COMPARE is not None else hot.ROOT
    phases = [(str(count.options["workload"]), WARM_COUNT) for count in counts]
    for count in counts:
        workload = str(count.options["workload"])
        phases += [(workload, count.small), (workload, count.large)]
    argv = [sys.executable, "-c", CLIENT, str(root), str(hot.SCRIPTS), peer, str(node_port), str(flags),
            json.dumps(phases)]
    client = Counted(argv, tmp / f"client-{peer}.out", stdout=subprocess.PIPE, text=True)
    try:
        totals = []
        for index in range(len(phases)):
            line = client.process.stdout.readline()  # type: ignore[union-attr]
            if line.strip() != str(index):
                raise RuntimeError(f"client {peer} stopped before phase {index}")
            totals.append(client.dump())
            (flags / str(index)).touch()
        runs = totals[len(counts):]
        return {count.name: (runs[2 * i + 1] - runs[2 * i]) / (count.large - count.small)
                for i, count in enumerate(counts)}
    finally:
        client.stop()


def measure(counts: list[Count]) -> dict[str, dict[str, float]]:
    """Instructions per message, by workload and peer."""
    servers = hot.make_servers()
    node = servers.get("node ws")
    before = ["before"] if hot.COMPARE is not None else []
    results: dict[str, dict[str, float]] = {count.name: {} for count in counts}
    tmp = Path(tempfile.mkdtemp(prefix="faye-instr-"))
    try:
        for group in ("server", "sse", "client"):
            mine = [count for count in counts if count.group == group]
            if not mine:
                continue
            if group == "client":
                if node is None:
                    print("  ! clients: node ws is not installed (tests/peers)", file=sys.stderr)
                    continue
                node.start()
            try:
                for peer in PEERS[group] + before:
                    try:
                        if group == "client":
                            assert node is not None
                            found = measure_client(peer, mine, node.port, tmp)
                        else:
                            key = f"{peer} sse" if group == "sse" and peer in ("ours", "before") else peer
                            found = measure_server(peer, servers[key].argv, mine, tmp)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                        print(f"  ! {group} / {peer}: {error}", file=sys.stderr)
                        continue
                    for name, value in found.items():
                        results[name][peer] = value
                        print(f"    {name} / {peer}: {value:,.0f} instructions per message",
                              file=sys.stderr, flush=True)
            finally:
                if group == "client" and node is not None:
                    node.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def report(results: dict[str, dict[str, float]]) -> None:
    """The table: instructions per message of each peer, and ours as a share of theirs."""
    peers = [peer for peer in ("ours", "before", "websockets", "minimal", "minimal sse nodelay")
             if any(peer in by_peer for by_peer in results.values())]
    print("\nuser-space instructions per message (callgrind; two runs in one process, their difference)")
    print("| workload | " + " | ".join(peers) + " | ours / websockets | ours / minimal |")
    print("|---|" + "---|" * (len(peers) + 2))
    for name, by_peer in results.items():
        cells = [f"{by_peer[peer]:,.0f}" if peer in by_peer else "-" for peer in peers]
        ours = by_peer.get("ours")
        minimal = by_peer.get("minimal", by_peer.get("minimal sse nodelay"))
        others = (by_peer.get("websockets"), minimal)
        shares = [f"{ours / other:.2f}" if ours and other else "-" for other in others]
        print(f"| {name} | " + " | ".join(cells + shares) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only workloads whose name contains this")
    parser.add_argument("--compare", type=Path, help="another checkout to measure as the peer 'before'")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        print("bench_instructions: skipped, valgrind is not installed (apt-get install valgrind)")
        return
    if not shutil.which("node"):
        sys.exit("bench_instructions needs node (the load generator runs on it)")
    hot.COMPARE = args.compare.resolve() if args.compare else None
    counts = [count for count in COUNTS if args.only.lower() in count.name.lower()]
    print(f"instructions: Python {sys.version.split()[0]}, valgrind callgrind, {os.cpu_count()} CPUs")
    report(measure(counts))


if __name__ == "__main__":
    main()
