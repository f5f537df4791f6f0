"""Benchmark: apply_mask on 1 MiB against the alternatives tried (MB/s, best of N runs)."""

from __future__ import annotations

import os
import sys
import timeit

from faye_websocket.driver.frames import apply_mask, mask_buffer

SIZE = 1024 * 1024
KEY = os.urandom(4)
DATA = os.urandom(SIZE)


def mask_bytewise(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i & 3] for i, b in enumerate(data))


def mask_int(data: bytes, key: bytes) -> bytes:
    n = len(data)
    return (int.from_bytes(data, "big") ^ int.from_bytes((key * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")


def rate(fn: object, number: int) -> float:
    best = min(timeit.repeat(lambda: fn(DATA, KEY), number=number, repeat=5))  # type: ignore[operator]
    return SIZE * number / best / 1e6


def main() -> None:
    results = {"faye_websocket apply_mask (strided translate)": rate(mask_buffer, 20),
               "one big-integer XOR": rate(mask_int, 20),
               "per-byte generator": rate(mask_bytewise, 1)}
    try:
        from websockets.speedups import apply_mask as c_mask  # the peer's C extension

        results["websockets.speedups (C extension, peer)"] = rate(c_mask, 50)
    except ImportError:
        pass
    assert apply_mask(DATA, KEY) == mask_int(DATA, KEY)
    print(f"apply_mask on {SIZE // 1024} KiB, Python {sys.version.split()[0]}")
    ours = results["faye_websocket apply_mask (strided translate)"]
    for name, value in results.items():
        print(f"  {name:55s} {value:9.1f} MB/s  ({value / ours:5.2f}x ours)")


if __name__ == "__main__":
    main()
