"""Independent WebSocket peers in node (tests/peers): `ws` 8 and the original faye-websocket 0.11.4.

Servers print `listening PORT` when ready; clients print one JSON object per line (see
tests/peers/client_common.js for the line format).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.paths import TESTS

from .certs import TLSCerts
from .process import Process, require, require_executable

PEERS_DIR = TESTS / "peers"
LOOPBACK = "127.0.0.1"


def _peer_script(name: str) -> Path:
    """Return tests/peers/<name>.js after checking node and the npm packages are installed."""
    script = PEERS_DIR / f"{name}.js"
    if not script.is_file():
        raise ValueError(f"no node peer {name!r} in {PEERS_DIR}")
    require((PEERS_DIR / "node_modules" / "ws").is_dir()
            and (PEERS_DIR / "node_modules" / "faye-websocket").is_dir(),
            f"node peers not installed: run `npm install` in {PEERS_DIR} (scripts/_venv.sh does)")
    return script


@dataclass(frozen=True)
class NodePeer:
    """A running node peer server on 127.0.0.1:port."""

    name: str
    host: str
    port: int
    tls: bool
    process: Process = field(repr=False, compare=False)

    def url(self, path: str = "/", scheme: str = "ws", host: str | None = None) -> str:
        """Return scheme://host:port + path; "ws" ("http") becomes "wss" ("https") on a TLS peer.

        Use host="localhost" with TLS when the client checks the name (the leaf has both names).
        """
        if self.tls:
            scheme = {"ws": "wss", "http": "https"}.get(scheme, scheme)
        return f"{scheme}://{host or self.host}:{self.port}{path}"


@contextlib.contextmanager
def run_node_server(name: str, *, port: int = 0, certs: TLSCerts | None = None) -> Iterator[NodePeer]:
    """Run tests/peers/<name>.js on 127.0.0.1 (port 0: the script picks one and reports it).

    Known servers: ws_echo_server (ws, permessage-deflate, echo), faye_echo_server (faye-websocket
    with permessage-deflate, echo; EventSource at /events honouring Last-Event-ID). With `certs`
    the server speaks TLS (wss/https) with the test leaf certificate. Each prints a JSON line per
    connection and close (NodePeer.process.output()).
    """
    node = require_executable("node")
    argv = [node, str(_peer_script(name)), str(port)]
    if certs is not None:
        argv += [str(certs.server_crt), str(certs.server_key)]
    proc = Process(argv, name=name, cwd=str(PEERS_DIR), ready_line=r"^listening (\d+)")
    proc.start()
    try:
        assert proc.ready_match is not None
        yield NodePeer(name, LOOPBACK, int(proc.ready_match.group(1)), certs is not None, proc)
    finally:
        proc.stop()


@dataclass(frozen=True)
class NodeClientResult:
    """What a node client saw: every JSON line in order, and the parts tests ask about most."""

    returncode: int
    events: list[dict[str, Any]]
    output: str

    @property
    def extensions(self) -> str | None:
        """The negotiated Sec-WebSocket-Extensions value ("" if none; None if it never opened)."""
        for event in self.events:
            if event.get("event") == "open":
                return str(event.get("extensions", ""))
        return None

    @property
    def messages(self) -> list[str | bytes]:
        """Received messages in order: str for text, bytes for binary."""
        return [bytes.fromhex(e["hex"]) if e.get("binary") else e["data"]
                for e in self.events if e.get("event") == "message"]

    @property
    def close(self) -> dict[str, Any] | None:
        """The close event ({"code", "reason"}) or None."""
        return next((e for e in self.events if e.get("event") == "close"), None)


def run_node_client(name: str, url: str, messages: Sequence[str] | None = None, *,
                    expect: int | None = None, timeout: float = 10.0,
                    extra_args: Sequence[str] = (), certs: TLSCerts | None = None) -> NodeClientResult:
    """Run tests/peers/<name>.js URL (ws_client or faye_client) to completion and parse its lines.

    `messages` are sent as text ("hex:..." for binary); None sends the default set. The client closes
    after `expect` messages arrived (default: as many as it sent). Raises AssertionError with the
    output if it does not finish within `timeout` seconds. With `certs`, node trusts the test CA
    (NODE_EXTRA_CA_CERTS) for wss URLs.
    """
    node = require_executable("node")
    args = [node, str(_peer_script(name)), url, f"--timeout-ms={int(timeout * 1000 * 0.8)}"]
    if expect is not None:
        args.append(f"--expect={expect}")
    args += [*extra_args, *(messages or [])]
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(certs.ca_pem)) if certs is not None else None
    try:
        done = subprocess.run(args, cwd=str(PEERS_DIR), env=env, capture_output=True, text=True,
                              timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{name} did not finish in {timeout} s: {exc.stdout!r} {exc.stderr!r}") from None
    events = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return NodeClientResult(done.returncode, events, done.stdout + done.stderr)
