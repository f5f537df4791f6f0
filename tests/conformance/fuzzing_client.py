"""The conformance harness as a client: plays ``cases.CASES`` against a WebSocket echo server.

    python -m tests.conformance.fuzzing_client ws://127.0.0.1:8000/   # prints a report

For the compression cases it offers the case's permessage-deflate parameters, checks that the
server's answer fits the offer (RFC 7692 section 7.1), and inflates with the window the server
agreed to, so a server that compresses with a larger window than negotiated fails.
"""

from __future__ import annotations

import base64
import os
import socket
import sys
import time
from urllib.parse import urlsplit

from .cases import CASES, Case, Outcome, Session, Verdict
from .fuzzing_server import deflate_params
from .wire import Deflater, Inflater, Peer, accept_for

CONNECT_TIMEOUT = 10.0
EOF_TIMEOUT = 5.0  # RFC 6455 section 7.1.1: the server closes TCP after the closing handshake


def _handshake(peer: Peer, url: str, offer: str | None) -> tuple[dict[str, str] | None, str]:
    parts = urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if offer:
        lines.append(f"Sec-WebSocket-Extensions: {offer}")
    peer.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = peer.read_head(time.monotonic() + CONNECT_TIMEOUT)
    if head is None:
        return None, "no handshake response"
    status, *fields = head.decode("latin-1").split("\r\n")
    headers = {n.strip().lower(): v.strip() for n, _, v in (f.partition(":") for f in fields)}
    if " 101 " not in status + " " or headers.get("sec-websocket-accept") != accept_for(key):
        return None, f"bad handshake response: {status}"
    return headers, ""


def _configure_deflate(session: Session, offer: str, answer: str) -> str:
    """Set up the codecs from the server's answer; returns a reason if the answer breaks the offer."""
    if not answer.startswith("permessage-deflate"):
        return "server did not accept permessage-deflate"
    offered, agreed = deflate_params(offer), deflate_params(answer)
    if "client_max_window_bits" in agreed and "client_max_window_bits" not in offered:
        return "server answered client_max_window_bits that was not offered"
    limit = offered.get("server_max_window_bits")
    if limit and int(agreed.get("server_max_window_bits") or 15) > int(limit):
        return "server ignored the offered server_max_window_bits"
    if "server_no_context_takeover" in offered and "server_no_context_takeover" not in agreed:
        return "server ignored server_no_context_takeover"
    session.deflater = Deflater(
        int(agreed.get("client_max_window_bits") or offered.get("client_max_window_bits") or 15),
        "client_no_context_takeover" in agreed or "client_no_context_takeover" in offered,
    )
    session.inflater = Inflater(
        "server_no_context_takeover" in agreed, int(agreed.get("server_max_window_bits") or 15)
    )
    return ""


def run_case(url: str, case: Case) -> Outcome:
    """Connect, play ``case``, and check that the server then closes TCP."""
    parts = urlsplit(url)
    try:
        sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=CONNECT_TIMEOUT)
    except OSError as error:
        return Outcome(Verdict.FAILED, f"cannot connect: {error}")
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = Peer(sock)
        headers, problem = _handshake(peer, url, case.deflate)
        if headers is None:
            return Outcome(Verdict.FAILED, problem)
        session = Session(peer, mask=True, timeout=case.timeout)
        if case.deflate:
            problem = _configure_deflate(session, case.deflate, headers.get("sec-websocket-extensions", ""))
            if problem:
                return Outcome(Verdict.FAILED, problem)
        outcome = case.run(session)
        if outcome.verdict is Verdict.OK and not peer.wait_eof(time.monotonic() + EOF_TIMEOUT):
            return Outcome(Verdict.NON_STRICT, "server did not close TCP after the close")
        return outcome


def run_all(url: str, cases: list[Case] = CASES) -> dict[str, Outcome]:
    return {case.id: run_case(url, case) for case in cases}


def report(cases: list[Case], results: dict[str, Outcome]) -> str:
    lines = [
        f"{c.id:10s} {results[c.id].verdict.value:11s} {c.description}  {results[c.id].detail}"
        for c in cases
        if c.id in results
    ]
    counts = {v: sum(r.verdict is v for r in results.values()) for v in Verdict}
    lines.append(", ".join(f"{n} {v.value}" for v, n in counts.items()) + f" of {len(cases)} cases")
    return "\n".join(lines)


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8000/"
    results = run_all(url)
    print(report(CASES, results))
    return 1 if any(r.verdict is Verdict.FAILED for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
