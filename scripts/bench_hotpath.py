#!/usr/bin/env python3
"""Benchmark: the hot path of our server, client and EventSource against peers, in one run.

Servers (each in its own process, driven by the same Node load generator, scripts/bench_load.js,
which sends frames masked ahead of time): ours is ``examples/server.py`` as shipped; the peers
are websockets.sync, node ws (when present) and the minimal reference (scripts/minimal_ws.py).
Clients (each in its own process, against the node ws echo server): ours (``faye_websocket.connect``),
websockets.sync and the minimal client. EventSource writers (``EventSource.from_handler`` on
http.server.ThreadingHTTPServer) against node faye-websocket's and a plain http.server writer.

Every workload runs REPS times, the peers interleaved (rotated each repetition), and the median is
reported: throughput as a ratio to the workload's yardstick peer measured in the same run
(websockets.sync, or node faye-websocket for EventSource), and CPU microseconds per message of the
process under test (/proc/PID/stat, or process_time in a client). Then a cProfile summary of our
process for the main workloads names where the time goes. Loops are bounded in count and time.

    scripts/bench                       (runs this with the other benchmarks)
    python scripts/bench_hotpath.py [--reps N] [--scale F] [--only SUBSTRING] [--no-profile]
                                    [--compare CHECKOUT]

``--compare`` adds the same three of ours from another checkout (say, main before a change) as
the peer "before", measured interleaved with the rest: the way to tell whether a change wins.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
PEERS_DIR = ROOT / "tests" / "peers"
LOAD = SCRIPTS / "bench_load.js"
RUN_TIMEOUT = 150.0  # seconds per measurement at most (the load generator stops itself at 120)
TICKS = os.sysconf("SC_CLK_TCK")
JSON_1K = json.dumps({"type": "update", "items": [{"id": n, "name": f"item{n}", "value": n * 1.5,
                                                   "flag": n % 2 == 0} for n in range(18)]})[:1024]

# -- the processes under test -------------------------------------------------------------------

WEBSOCKETS_SERVER = """
import sys
from websockets.sync.server import serve
def echo(ws):
    for message in ws:
        ws.send(message)
with serve(echo, "127.0.0.1", int(sys.argv[1]), max_size=None) as server:
    server.serve_forever()
"""

# examples/server.py with each handler thread under cProfile; stats merged on SIGTERM.
PROFILED_SERVER = """
import cProfile, pstats, signal, sys, threading, time
sys.path.insert(0, sys.argv[3])
import server as demo
profiles, lock = [], threading.Lock()
original = demo.DemoHandler.echo_websocket
def echo_websocket(self):
    profile = cProfile.Profile(time.thread_time)  # CPU time of this thread, not wall time
    with lock:
        profiles.append(profile)
    profile.enable()
    try:
        original(self)
    finally:
        profile.disable()
demo.DemoHandler.echo_websocket = echo_websocket
def dump(*_):
    with lock:
        stats = None
        for profile in profiles:
            try:
                stats = pstats.Stats(profile) if stats is None else (stats.add(profile) or stats)
            except TypeError:
                pass
        if stats is not None:
            stats.dump_stats(sys.argv[2])
    sys.exit(0)
signal.signal(signal.SIGTERM, dump)
demo.build_server("127.0.0.1", int(sys.argv[1]), tls_dir=None, allow_drafts=False).serve_forever()
"""

OUR_SSE_SERVER = """
import sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit
sys.path.insert(0, sys.argv[2])
from faye_websocket import EventSource
PROFILE = sys.argv[3] if len(sys.argv) > 3 else None
profiles = []

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        query = parse_qs(urlsplit(self.path).query)
        count, message = int(query.get("n", ["1000"])[0]), query.get("m", ["x"])[0]
        if PROFILE:
            import cProfile
            import time
            profile = cProfile.Profile(time.thread_time)
            profiles.append(profile)
            profile.enable()
        es = EventSource.from_handler(self)
        for _ in range(count):
            if not es.send(message):
                break
        es.close()
        if PROFILE:
            profile.disable()
    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 1024
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
if PROFILE:
    import pstats, signal
    def dump(*_):
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        stats.dump_stats(PROFILE)
        sys.exit(0)
    signal.signal(signal.SIGTERM, dump)
server.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.args}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not start: {process.args}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (proc(5) fields 14, 15)


@dataclass
class Server:
    """A server process under test, started once and reused by every workload of its kind."""

    name: str
    argv: list[str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = free_port()
        argv = [arg.replace("{port}", str(self.port)) for arg in self.argv]
        self.process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None


def drive(port: int, kind: str, options: dict[str, Any], pid: int | None) -> tuple[float, float, float]:
    """Run the load generator; (messages, seconds, CPU seconds of ``pid`` during the run)."""
    load = subprocess.Popen(["node", str(LOAD), kind, str(port), json.dumps(options)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert load.stdin is not None and load.stdout is not None
        if load.stdout.readline().strip() != "ready":
            raise RuntimeError(f"load generator failed: {load.communicate(timeout=10)[1]}")
        before = cpu_seconds(pid) if pid else 0.0
        load.stdin.write("go\n")
        load.stdin.flush()
        line = load.stdout.readline()
        after = cpu_seconds(pid) if pid else 0.0
        if not line:
            raise RuntimeError(f"load generator failed: {load.communicate(timeout=10)[1]}")
        result = json.loads(line)
        return float(result["messages"]), float(result["seconds"]), after - before
    finally:
        if load.poll() is None:
            load.kill()
        load.wait(10)


# -- clients --------------------------------------------------------------------------------------

def client_worker(kind: str, workload: str, port: int, count: int) -> None:
    """In a subprocess: run one client workload, print {messages, seconds, cpu} as JSON."""
    url = f"ws://127.0.0.1:{port}/"
    small, large = "x" * 16, b"\xfe" * (1 << 20)
    if kind in ("ours", "before"):
        import faye_websocket

        def open_() -> Any:
            return faye_websocket.connect(url)
    elif kind == "websockets":
        from websockets.sync.client import connect

        def open_() -> Any:
            return connect(url, compression=None, max_size=None)
    else:
        sys.path.insert(0, str(SCRIPTS))
        import minimal_ws

        def open_() -> Any:
            return minimal_ws.Client("127.0.0.1", port)
    ws = None if workload == "connect" else open_()
    profile = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profile = cProfile.Profile(time.thread_time)
        profile.enable()
    cpu, start = time.process_time(), time.perf_counter()
    messages = 0
    if workload == "rt":
        for _ in range(count):
            ws.send(small)
            ws.recv()
        messages = count
    elif workload == "pipe":
        for _ in range(count):
            for _ in range(1000):
                ws.send(small)
            for _ in range(1000):
                ws.recv()
        messages = count * 1000
    elif workload == "large":
        for _ in range(count):
            ws.send(large)
            ws.recv()
        messages = count
    else:
        for _ in range(count):
            conn = open_()
            conn.close()
        messages = count
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.environ["BENCH_PROFILE"])
    if ws is not None:
        ws.close()
    print(json.dumps({"messages": messages, "seconds": seconds, "cpu": cpu}))


def run_client(kind: str, workload: str, port: int, count: int,
               profile: str | None = None) -> tuple[float, float, float]:
    env = dict(os.environ)
    if profile:
        env["BENCH_PROFILE"] = profile
    root = COMPARE if kind == "before" and COMPARE is not None else ROOT
    out = subprocess.run([sys.executable, __file__, "--client-worker", kind, workload, str(port), str(count),
                          str(root)],
                         capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"client {kind} {workload} failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return float(result["messages"]), float(result["seconds"]), float(result["cpu"])


# -- workloads ------------------------------------------------------------------------------------

@dataclass
class Workload:
    """One row of the table."""

    name: str
    group: str  # "server", "client" or "sse"
    options: dict[str, Any]
    goal: float
    count: int = 0  # client runs: iterations; sse runs: events per reader
    results: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # peer -> (rate, cpu us/msg)


def workloads(scale: float) -> list[Workload]:
    def n(value: int) -> int:
        return max(1, int(value * scale))

    return [
        Workload("server, 16 B round trips", "server", {"mode": "rt", "count": n(10000)}, 2.0),
        Workload("server, 1 KiB round trips", "server", {"mode": "rt", "size": 1024, "count": n(10000)}, 1.6),
        Workload("server, 16 B pipelined (batches of 1,000)", "server",
                 {"mode": "pipe", "batch": 1000, "count": n(30)}, 1.5),
        Workload("server, 1 MiB echo", "server", {"mode": "large", "size": 1 << 20, "text": False,
                                                  "count": n(30)}, 0.75),
        Workload("server, sequential connect + close", "server", {"mode": "connect", "count": n(600)}, 1.6),
        Workload("server, 100 connections", "server",
                 {"mode": "rt", "connections": 100, "count": n(100)}, 2.2),
        Workload("server, 1,000 connections", "server",
                 {"mode": "rt", "connections": 1000, "count": n(4)}, 15.0),
        Workload("server, permessage-deflate 1 KiB JSON", "server",
                 {"mode": "deflate", "json": JSON_1K, "count": n(5000)}, 1.4),
        Workload("client, 16 B round trips", "client", {"workload": "rt"}, 1.5, n(8000)),
        Workload("client, 16 B pipelined", "client", {"workload": "pipe"}, 1.5, n(15)),
        Workload("client, 1 MiB echo", "client", {"workload": "large"}, 0.75, n(25)),
        Workload("client, connect + close", "client", {"workload": "connect"}, 2.0, n(300)),
        Workload("EventSource, 1 reader", "sse", {"readers": 1}, 1.7, n(60000)),
        Workload("EventSource, 500 readers", "sse", {"readers": 500}, 1.3, n(200)),
    ]


YARDSTICK = {"server": "websockets", "client": "websockets", "sse": "node faye"}


COMPARE: Path | None = None  # --compare: another checkout, whose three run as the peer "before"


def measure_once(load: Workload, peer: str, servers: dict[str, Server]) -> tuple[float, float]:
    if load.group == "client":
        port = servers["node ws"].port
        messages, seconds, cpu = run_client(peer, load.options["workload"], port, load.count)
    elif load.group == "server":
        server = servers[peer]
        assert server.process is not None
        messages, seconds, cpu = drive(server.port, "ws", load.options, server.process.pid)
    else:
        server = servers[peer]
        assert server.process is not None
        path = f"/?n={load.count}&m=" + "x" * 32
        messages, seconds, cpu = drive(server.port, "sse", {**load.options, "path": path}, server.process.pid)
    time.sleep(0.3)  # let the server finish closing the run's connections outside the next window
    print(f"    {load.name} / {peer}: {messages / seconds:.0f}/s, {cpu / messages * 1e6:.1f} us/msg, "
          f"{seconds:.2f} s", file=sys.stderr, flush=True)
    return messages / seconds, cpu / messages * 1e6


def peers_for(group: str) -> list[str]:
    before = ["before"] if COMPARE is not None else []
    if group == "client":
        return ["ours", *before, "websockets", "minimal"]
    if group == "sse":
        return ["ours", *before, "node faye", "minimal sse", "minimal sse nodelay"]
    return ["ours", *before, "websockets", "minimal"] + (["node ws"] if have_node_ws() else [])


def have_node_ws() -> bool:
    return (PEERS_DIR / "node_modules" / "ws").exists()


def make_servers() -> dict[str, Server]:
    py = sys.executable
    servers = {
        "ours": Server("ours", [py, str(ROOT / "examples" / "server.py"), "{port}"]),
        "websockets": Server("websockets", [py, "-c", WEBSOCKETS_SERVER, "{port}"]),
        "minimal": Server("minimal", [py, str(SCRIPTS / "minimal_ws.py"), "server", "{port}"]),
        "minimal sse": Server("minimal sse", [py, str(SCRIPTS / "minimal_ws.py"), "sse", "{port}"]),
        # The same writer with TCP_NODELAY on, the socket contract of ours (and faye's): what pure
        # Python reaches when every event leaves as its own segment.
        "minimal sse nodelay": Server("minimal sse nodelay",
                                      [py, str(SCRIPTS / "minimal_ws.py"), "sse-nodelay", "{port}"]),
        "ours sse": Server("ours sse", [py, "-c", OUR_SSE_SERVER, "{port}", str(ROOT)]),
        "node faye": Server("node faye", ["node", str(LOAD), "faye-sse", "{port}"]),
    }
    if have_node_ws():
        servers["node ws"] = Server("node ws", ["node", str(PEERS_DIR / "ws_echo_server.js"), "{port}"])
    if COMPARE is not None:
        servers["before"] = Server("before", [py, str(COMPARE / "examples" / "server.py"), "{port}"])
        servers["before sse"] = Server("before sse", [py, "-c", OUR_SSE_SERVER, "{port}", str(COMPARE)])
    return servers


def run_all(loads: list[Workload], reps: int) -> None:
    servers = make_servers()
    for server in servers.values():
        server.start()
    try:
        for rep in range(reps):  # a repetition's lines go to stderr as they come
            for load in loads:
                peers = peers_for(load.group)
                shift = rep % len(peers)
                for peer in peers[shift:] + peers[:shift]:
                    key = f"{peer} sse" if (load.group == "sse" and peer in ("ours", "before")) else peer
                    try:
                        value = measure_once(load, peer, {**servers, peer: servers[key]})
                    except (RuntimeError, subprocess.TimeoutExpired, OSError) as error:
                        print(f"  ! {load.name} / {peer}: {error}", file=sys.stderr)
                        continue
                    load.results.setdefault(peer, []).append(value)
            print(f"  repetition {rep + 1}/{reps} done", file=sys.stderr, flush=True)
    finally:
        for server in servers.values():
            server.stop()


def median(values: list[tuple[float, float]], index: int) -> float:
    return statistics.median(value[index] for value in values) if values else float("nan")


def report(loads: list[Workload], reps: int) -> None:
    print(f"\nmedians of {reps} interleaved repetitions; rate = messages (events, connections) per second; "
          "cpu = microseconds of CPU per message in the process under test")
    for load in loads:
        yard = median(load.results.get(YARDSTICK[load.group], []), 0)
        print(f"  {load.name}")
        for peer, values in load.results.items():
            rate, cpu = median(values, 0), median(values, 1)
            print(f"      {peer:20s} rate {rate:10.0f}  ({rate / yard:5.2f}x {YARDSTICK[load.group]})  "
                  f"cpu {cpu:8.1f} us/msg")
    print("\n| workload | ours | minimal reference | goal | met | ours CPU us/msg | minimal CPU us/msg |")
    print("|---|---|---|---|---|---|---|")
    for load in loads:
        yard = median(load.results.get(YARDSTICK[load.group], []), 0)
        minimal = "minimal sse" if load.group == "sse" else "minimal"
        ours = median(load.results.get("ours", []), 0) / yard
        ref = median(load.results.get(minimal, []), 0) / yard
        met = "yes" if ours >= load.goal else "no"
        print(f"| {load.name} | {ours:.2f}x | {ref:.2f}x | >= {load.goal}x | {met} | "
              f"{median(load.results.get('ours', []), 1):.1f} | "
              f"{median(load.results.get(minimal, []), 1):.1f} |")


# -- profile --------------------------------------------------------------------------------------

def summarize(path: str, title: str, top: int = 14) -> None:
    if not os.path.exists(path):
        print(f"\n{title}: no profile written")
        return
    stats = pstats.Stats(path)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(value[2] for value in entries.values()) or 1.0
    rows = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    print(f"\n{title} (cProfile over thread CPU time; own time per function, share of {total:.2f} s)")
    for (filename, line, name), (_, calls, own, _, _) in rows:
        where = f"{Path(filename).name}:{line}" if line else filename
        print(f"  {own / total * 100:5.1f}%  {calls:9d} calls  {name:28s} {where}")


def profile_all(scale: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="faye-bench-"))
    try:
        path = str(tmp / "server.prof")
        argv = [sys.executable, "-c", PROFILED_SERVER, "{port}", path, str(ROOT / "examples")]
        server = Server("profiled", argv)
        server.start()
        try:
            assert server.process is not None
            drive(server.port, "ws", {"mode": "rt", "count": max(1, int(5000 * scale))}, None)
            drive(server.port, "ws", {"mode": "pipe", "batch": 1000, "count": max(1, int(10 * scale))}, None)
            time.sleep(0.5)
        finally:
            server.stop()
        summarize(path, "our server: 16 B round trips + 16 B pipelined, examples/server.py handler threads")
        node = Server("node ws", ["node", str(PEERS_DIR / "ws_echo_server.js"), "{port}"])
        if have_node_ws():
            node.start()
            try:
                client_path = str(tmp / "client.prof")
                run_client("ours", "rt", node.port, max(1, int(4000 * scale)), client_path)
                summarize(client_path, "our client: 16 B round trips (connect(), send + recv)")
            finally:
                node.stop()
        sse_path = str(tmp / "sse.prof")
        sse = Server("ours sse", [sys.executable, "-c", OUR_SSE_SERVER, "{port}", str(ROOT), sse_path])
        sse.start()
        try:
            path = f"/?n={max(1, int(30000 * scale))}&m=" + "x" * 32
            drive(sse.port, "sse", {"readers": 1, "path": path}, None)
            time.sleep(0.3)
        finally:
            sse.stop()
        summarize(sse_path, "our EventSource: 1 reader, EventSource.from_handler + send")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client-worker":
        sys.path.insert(0, sys.argv[6])
        client_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (median reported)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every message count")
    parser.add_argument("--only", default="", help="run only workloads whose name contains this")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile summary")
    parser.add_argument("--compare", type=Path, help="another checkout to measure as the peer 'before'")
    args = parser.parse_args()
    global COMPARE
    COMPARE = args.compare.resolve() if args.compare else None
    if not shutil.which("node"):
        sys.exit("bench_hotpath needs node (the load generator and the peers run on it)")
    loads = [load for load in workloads(args.scale) if args.only.lower() in load.name.lower()]
    print(f"hot path: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.reps} repetitions, "
          f"scale {args.scale}")
    run_all(loads, args.reps)
    report(loads, args.reps)
    if not args.no_profile:
        profile_all(args.scale)


if __name__ == "__main__":
    main()
