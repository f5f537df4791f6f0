#!/usr/bin/env python3
"""Benchmark: permessage-deflate against plain frames through the sans-I/O drivers (no sockets).

A client driver and a server driver complete the handshake in memory, then N JSON-like text
messages of about 1 KiB go client -> server (mask, compress, frame, parse, unmask, inflate,
UTF-8 decode) and the same back server -> client. Prints messages per second each way and the
bytes on the wire per message, for several configurations.

Usage: .venv/bin/python scripts/bench_deflate.py [--count N] [--size BYTES] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faye_websocket.driver.client import ClientDriver  # noqa: E402
from faye_websocket.driver.server import ServerDriver  # noqa: E402
from faye_websocket.events import MessageEvent  # noqa: E402
from faye_websocket.extensions import PermessageDeflate  # noqa: E402

CONFIGURATIONS: list[tuple[str, dict[str, Any] | None]] = [
    ("no extension", None),
    ("deflate (default)", {}),
    ("deflate level=1", {"level": 1}),
    ("deflate no_context_takeover", {"no_context_takeover": True, "request_no_context_takeover": True}),
    ("deflate window 9 bits", {"max_window_bits": 9, "request_max_window_bits": 9}),
]


def json_messages(count: int, size: int, seed: int) -> list[str]:
    """Distinct JSON records of about ``size`` characters, like an application's updates."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "price", "volume", "user", "status", "ok", "error"]
    messages = []
    for n in range(count):
        record: dict[str, Any] = {"type": rng.choice(words), "seq": n, "items": []}
        while len(json.dumps(record)) < size:
            record["items"].append(
                {"id": rng.randrange(10**6), "name": rng.choice(words) + str(rng.randrange(100)),
                 "value": round(rng.random() * 1000, 3), "flag": rng.random() < 0.5}
            )
        messages.append(json.dumps(record)[: max(size, 2)])
    return messages


def connected_pair(options: dict[str, Any] | None) -> tuple[ClientDriver, ServerDriver]:
    """A client and a server driver, both configured with ``options``, after the handshake."""
    extensions = [] if options is None else [PermessageDeflate(**options)]
    server_extensions = [] if options is None else [PermessageDeflate(**options)]
    client = ClientDriver("ws://127.0.0.1/bench", extensions=extensions)
    server = ServerDriver(None, extensions=server_extensions, max_length=2**26)
    client.start()
    server.receive_data(client.data_to_send())
    server.start()
    client.receive_data(server.data_to_send())
    client.events_received()
    server.events_received()
    return client, server


def one_way(sender: Any, receiver: Any, messages: list[str]) -> tuple[float, int]:
    """Seconds to send and receive every message, and the bytes that crossed."""
    wire = 0
    start = time.perf_counter()
    for message in messages:
        sender.text(message)
        data = sender.data_to_send()
        wire += len(data)
        receiver.receive_data(data)
        events = receiver.events_received()
        assert isinstance(events[0], MessageEvent) and events[0].data == message
    return time.perf_counter() - start, wire


def run(count: int, size: int, seed: int) -> None:
    pool = json_messages(min(count, 1000), size, seed)
    messages = [pool[n % len(pool)] for n in range(count)]
    payload = sum(len(m) for m in messages) / count
    print(f"{count} text messages, {payload:.0f} bytes average, Python {sys.version.split()[0]}")
    print(f"{'configuration':32} {'c->s msg/s':>11} {'s->c msg/s':>11} {'wire B/msg':>11} {'ratio':>6}")
    for name, options in CONFIGURATIONS:
        client, server = connected_pair(options)
        up_seconds, up_wire = one_way(client, server, messages)
        down_seconds, _ = one_way(server, client, messages)
        per_message = up_wire / count
        print(f"{name:32} {count / up_seconds:11.0f} {count / down_seconds:11.0f} "
              f"{per_message:11.0f} {per_message / payload:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000, help="messages per direction")
    parser.add_argument("--size", type=int, default=1024, help="approximate message size in bytes")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run(args.count, args.size, args.seed)


if __name__ == "__main__":
    main()
