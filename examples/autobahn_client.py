"""The testee for an Autobahn fuzzing server: echo every case, then ask for the reports.

    python3 examples/autobahn_client.py [URL] [--agent NAME] [--cases N,M-K]

URL is the fuzzing server (default ws://127.0.0.1:9001). The client reads the number of cases
from /getCaseCount, runs /runCase?case=N&agent=NAME for each, echoing every message back (text
as text, binary as binary) with permessage-deflate offered, then calls /updateReports. It shows
its progress on stderr and exits 0 once the reports have been requested.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from urllib.parse import quote

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from faye_websocket.client import connect  # noqa: E402
from faye_websocket.errors import WebSocketError  # noqa: E402
from faye_websocket.extensions.permessage_deflate import PermessageDeflate  # noqa: E402

DEFAULT_URL = "ws://127.0.0.1:9001"  # Autobahn's fuzzingserver default
DEFAULT_AGENT = "faye_websocket"
MAX_LENGTH = 2**26 - 1  # faye's default; Autobahn's largest cases (9.x) send 16 MiB messages
CASE_TIMEOUT = 60.0  # seconds a case may stay silent before we give up on it


def case_count(base: str) -> int:
    """The number of cases the fuzzing server has (one text message on /getCaseCount)."""
    with connect(f"{base}/getCaseCount", proxy=False) as ws:
        count = int(ws.recv(CASE_TIMEOUT))
        for _ in ws:  # wait for the server's close
            pass
    return count


def run_case(base: str, number: int, agent: str) -> str:
    """Echo case ``number``; returns how it ended (the close code, or the error)."""
    url = f"{base}/runCase?case={number}&agent={quote(agent)}"
    try:
        with connect(url, extensions=[PermessageDeflate()], max_length=MAX_LENGTH, proxy=False) as ws:
            while True:
                message = ws.recv(CASE_TIMEOUT)
                ws.send(message)
    except WebSocketError as error:
        return str(getattr(error, "code", "") or error)
    except (OSError, TimeoutError) as error:
        return f"network error: {error}"


def update_reports(base: str, agent: str) -> None:
    """Ask the fuzzing server to write its reports for ``agent``."""
    with connect(f"{base}/updateReports?agent={quote(agent)}", proxy=False) as ws:
        for _ in ws:
            pass


def parse_cases(spec: str | None, count: int) -> list[int]:
    """Case numbers from "1,3,5-7" (1-based), or all of them."""
    if not spec:
        return list(range(1, count + 1))
    numbers: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        numbers += range(int(first), int(last or first) + 1)
    return [n for n in numbers if 1 <= n <= count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--agent", default=DEFAULT_AGENT)
    parser.add_argument("--cases", help="only these case numbers, e.g. 1,5-9")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    try:
        count = case_count(base)
    except (OSError, WebSocketError) as error:
        print(f"cannot reach the fuzzing server at {base}: {error}", file=sys.stderr)
        return 2
    cases = parse_cases(args.cases, count)
    started = time.monotonic()
    for index, number in enumerate(cases, 1):
        outcome = run_case(base, number, args.agent)
        print(f"case {number} ({index}/{len(cases)}): {outcome}", file=sys.stderr, flush=True)
    update_reports(base, args.agent)
    print(f"{len(cases)} cases in {time.monotonic() - started:.1f} s; reports updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
