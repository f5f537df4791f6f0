"""Benchmark: what logging, the frame trace and the connect() keepalive cost on the hot path.

One process per measurement runs our server (http.server + WebSocket, on a thread) and a
``connect()``ed client doing 16-byte round trips, and reports CPU microseconds per round trip
(the whole process: client and server). Variants, measured interleaved in the same run, medians
of REPEATS, as ratios against the first:

- ``quiet``: the default (the faye_websocket logger above DEBUG, no trace), keepalive on;
- ``debug``: ``logging.basicConfig(level=DEBUG)`` (heads, closes: nothing per message);
- ``trace``: DEBUG plus ``trace_frames(True)`` (a line per message, in and out);
- ``no-keepalive``: quiet, ``connect(keepalive=False)``;
- with ``--baseline DIR`` (a source tree of another version, e.g. ``git archive main``), the same
  quiet workload against that tree: the cost of the switches when they are off.

Usage: python scripts/bench_logging.py [--baseline DIR] [--round-trips N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3
ROUND_TRIPS = 3000
TIMEOUT = 120.0  # seconds per measurement process, at most

WORKLOAD = r"""
import logging, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import faye_websocket
from faye_websocket import WebSocket, connect

variant, round_trips = sys.argv[1], int(sys.argv[2])
if variant in ("debug", "trace"):
    logging.basicConfig(level=logging.DEBUG, stream=open("/dev/null", "w"))
if variant == "trace":
    from faye_websocket.logs import trace_frames
    trace_frames(True)

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        ws = WebSocket.from_handler(self)
        ws.on("message", lambda event: ws.send(event.data))
        ws.run()
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
options = {"keepalive": False} if variant == "no-keepalive" else {}
try:
    ws = connect(f"ws://127.0.0.1:{server.server_address[1]}/", **options)
except TypeError:  # a baseline without the keepalive option
    ws = connect(f"ws://127.0.0.1:{server.server_address[1]}/")
message = "x" * 16
for _ in range(200):  # warm up
    ws.send(message); ws.recv(5)
start = time.process_time()
for _ in range(round_trips):
    ws.send(message)
    ws.recv(5)
used = time.process_time() - start
ws.close()
print(used / round_trips * 1e6)
"""


def measure(variant: str, round_trips: int, source: Path) -> float:
    """CPU microseconds per round trip of one run of ``variant`` against the tree at ``source``."""
    env = dict(os.environ, PYTHONPATH=str(source))
    done = subprocess.run([sys.executable, "-c", WORKLOAD, variant, str(round_trips)], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="source tree of the version to compare with")
    parser.add_argument("--round-trips", type=int, default=ROUND_TRIPS)
    args = parser.parse_args()
    runs = [("quiet", ROOT), ("debug", ROOT), ("trace", ROOT), ("no-keepalive", ROOT)]
    if args.baseline is not None:
        runs.append(("quiet", args.baseline.resolve()))
    results: dict[int, list[float]] = {index: [] for index in range(len(runs))}
    for _ in range(REPEATS):  # interleaved, so that machine noise hits every variant alike
        for index, (variant, source) in enumerate(runs):
            results[index].append(measure(variant, args.round_trips, source))
    base = statistics.median(results[0])
    print(f"{'variant':<28} {'us/round trip':>14} {'ratio':>7}")
    for index, (variant, source) in enumerate(runs):
        name = variant if source == ROOT else f"{variant} (baseline)"
        median = statistics.median(results[index])
        print(f"{name:<28} {median:>14.1f} {median / base:>7.2f}")


if __name__ == "__main__":
    main()
