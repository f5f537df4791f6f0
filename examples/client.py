"""Open a WebSocket, send "mic check", print what comes back, close (faye's examples/client.js).

    python3 examples/client.py URL [PROXY] [--ca CAFILE] [--insecure]

URL is ws://, wss://, http:// or https://; PROXY an http:// or https:// CONNECT proxy, with
``user:pass@`` for Basic auth (without it, http_proxy / https_proxy / no_proxy apply). --ca
trusts a CA file for the server and the proxy (self-signed test certificates); --insecure skips
verification. Exits 0 after a clean close, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from faye_websocket.client import Client  # noqa: E402
from faye_websocket.events import CloseEvent, ErrorEvent, MessageEvent, OpenEvent  # noqa: E402

ORIGIN = "http://faye.jcoglan.com"  # the original example's Origin header
WAIT = 30.0  # seconds for the whole exchange


class EchoCheck(Client):
    """Its listeners are methods, so they exist before the client's thread dispatches anything."""

    def __init__(self, url: str, **options: Any) -> None:
        self.done = threading.Event()
        self.clean = False
        super().__init__(url, **options)

    def onopen(self, event: OpenEvent) -> None:  # type: ignore[override]
        print("[open]", self.headers, flush=True)
        self.send("mic check")

    def onmessage(self, event: MessageEvent) -> None:  # type: ignore[override]
        print("[message]", event.data, flush=True)
        self.close()

    def onerror(self, event: ErrorEvent) -> None:  # type: ignore[override]
        print("[error]", event.message, flush=True)

    def onclose(self, event: CloseEvent) -> None:  # type: ignore[override]
        print("[close]", event.code, event.reason, flush=True)
        self.clean = event.was_clean
        self.done.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("proxy", nargs="?")
    parser.add_argument("--ca", help="a CA file to trust for the server and the proxy")
    parser.add_argument("--insecure", action="store_true", help="do not verify certificates")
    args = parser.parse_args(argv)
    tls: dict[str, Any] | None = (
        {"verify": False} if args.insecure else ({"cafile": args.ca} if args.ca else None)
    )
    proxy: dict[str, Any] | None = None
    if args.proxy:
        proxy = {"origin": args.proxy, "headers": {"User-Agent": "Echo"}, "tls": tls}
    ws = EchoCheck(args.url, origin=ORIGIN, proxy=proxy, tls=tls)
    if not ws.done.wait(WAIT):
        print("[timeout]", flush=True)
        ws.close()
    ws.wait_closed(WAIT)
    return 0 if ws.clean else 1


if __name__ == "__main__":
    sys.exit(main())
