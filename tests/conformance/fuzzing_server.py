"""An Autobahn-protocol fuzzing server that plays ``cases.CASES`` against a WebSocket client.

It speaks the protocol of Autobahn's fuzzingserver, so a testee written for the real one runs
unchanged: ``/getCaseCount`` sends the number of cases as one text message, ``/runCase?case=N&
agent=A`` plays case N (1-based), ``/updateReports?agent=A`` closes at once. Verdicts are kept in
``results`` (and can be printed as a report).

    python -m tests.conformance.fuzzing_server [PORT]     # then run a testee against it
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

from .cases import CASES, Case, Outcome, Session, Verdict
from .wire import CLOSE, TEXT, Deflater, Inflater, Peer, accept_for, build_frame, close_payload

HEAD_TIMEOUT = 10.0


def _headers(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return lines[0].split(" ")[1], fields


def deflate_params(header: str) -> dict[str, str]:
    """The parameters of the first permessage-deflate element of an extensions header."""
    first = header.split(",")[0]
    return {p.strip().split("=")[0]: p.strip().partition("=")[2] for p in first.split(";")[1:] if p.strip()}


class FuzzingServer(socketserver.ThreadingTCPServer):
    """Plays the cases; ``results`` maps case id to Outcome."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, cases: list[Case] = CASES) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.timeout = 0.5  # so main()'s handle_request loop notices /updateReports
        self.cases = cases
        self.results: dict[str, Outcome] = {}
        self.reports_updated = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server_address[1]}"

    def report(self) -> str:
        lines = [
            f"{case.id:10s} {self.results[case.id].verdict.value:11s} {case.description}"
            f"  {self.results[case.id].detail}"
            for case in self.cases
            if case.id in self.results
        ]
        counts = {v: sum(r.verdict is v for r in self.results.values()) for v in Verdict}
        lines.append(", ".join(f"{n} {v.value}" for v, n in counts.items()) + f" of {len(self.cases)} cases")
        return "\n".join(lines)


class _Handler(socketserver.BaseRequestHandler):
    server: FuzzingServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = Peer(sock)
        head = peer.read_head(time.monotonic() + HEAD_TIMEOUT)
        if head is None:
            return
        target, fields = _headers(head)
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/runCase":
            self._run_case(peer, fields, int(query.get("case", "0")))
        else:
            self._upgrade(peer, fields, None)
            if parts.path == "/getCaseCount":
                peer.send(build_frame(TEXT, str(len(self.server.cases)).encode()))
            elif parts.path == "/updateReports":
                self.server.reports_updated.set()
            peer.send(build_frame(CLOSE, close_payload(1000)))
            peer.wait_eof(time.monotonic() + 2.0)

    def _upgrade(self, peer: Peer, fields: dict[str, str], extensions: str | None) -> None:
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_for(fields.get('sec-websocket-key', ''))}",
        ]
        if extensions:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        peer.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def _run_case(self, peer: Peer, fields: dict[str, str], number: int) -> None:
        if not 1 <= number <= len(self.server.cases):
            return
        case = self.server.cases[number - 1]
        session = Session(peer, mask=False, timeout=case.timeout)
        if case.deflate is not None:
            if "permessage-deflate" not in fields.get("sec-websocket-extensions", ""):
                self.server.results[case.id] = Outcome(
                    Verdict.FAILED, "client did not offer permessage-deflate"
                )
                self._upgrade(peer, fields, None)
                session.close()
                return
            params = deflate_params(case.deflate)
            session.deflater = Deflater(
                int(params.get("server_max_window_bits") or 15), "server_no_context_takeover" in params
            )
            session.inflater = Inflater("client_no_context_takeover" in params)
        self._upgrade(peer, fields, case.deflate)
        try:
            outcome = case.run(session)
        except Exception as error:  # a harness bug must show as a failure, not a hang
            outcome = Outcome(Verdict.FAILED, f"harness error: {error!r}")
        # RFC 6455 section 7.1.1: the server closes TCP once the closing handshake is done (the
        # handler's return closes the socket); a client that failed the connection got our echo.
        self.server.results[case.id] = outcome


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
    server = FuzzingServer(port)
    print(f"fuzzing server on {server.url} with {len(server.cases)} cases", flush=True)
    try:
        while not server.reports_updated.is_set():
            server.handle_request()
    finally:
        print(server.report())
        server.server_close()


if __name__ == "__main__":
    main()
