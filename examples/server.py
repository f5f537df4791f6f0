"""The demo server: WebSocket echo on every path, the EventSource demo stream, and static files.

    python3 examples/server.py PORT [--tls] [--host HOST] [--allow-drafts]

- A WebSocket request on any path is echoed (text and binary) with subprotocols irc and xmpp and
  permessage-deflate, like the original's examples/server.js.
- An EventSource request (``Accept: text/event-stream``) gets the ``Time: N`` stream of
  examples/demo_eventsource.py.
- Anything else is a static file from this folder (examples/) and only from it: paths that
  resolve outside it (``..``, encoded dots, absolute paths, symlinks) get 403 or 404.

``--tls`` serves https/wss with a throw-away certificate (made with trustme when it is installed,
else self-signed with the openssl command); the certificate and the CA to trust are printed as
PEM paths at startup and deleted at exit.
"""

from __future__ import annotations

import argparse
import functools
import mimetypes
import shutil
import ssl
import subprocess
import sys
import tempfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(HERE.parent))

from faye_websocket.cli.serve import ServeServer, SortingHandler  # noqa: E402
from faye_websocket.server.http_server import serve_until_signalled  # noqa: E402
from faye_websocket.server.websocket import WebSocket  # noqa: E402

PROTOCOLS = ["irc", "xmpp"]  # as in the original's examples/server.js
PING_INTERVAL = 20.0  # seconds between keep-alive pings (the original's demo uses 5)
INDEX = "ws.html"


@functools.lru_cache(maxsize=1)
def extensions() -> tuple[Any, ...]:
    """permessage-deflate when the extension is available.

    Made once and shared: an extension object only holds its options, and each connection
    negotiates its own session from it.
    """
    try:
        from faye_websocket.extensions.permessage_deflate import PermessageDeflate
    except ImportError:  # pragma: no cover - the extension ships with the package
        return ()
    return (PermessageDeflate(),)


def is_event_source(handler: BaseHTTPRequestHandler) -> bool:
    """True for an EventSource request (uses the package's check when present)."""
    try:
        from faye_websocket.eventsource.writer import EventSource
    except ImportError:  # pragma: no cover
        return False
    return bool(EventSource.is_event_source(handler))


def resolve_static(root: Path, target: str) -> tuple[int, Path | None]:
    """Map a request target to a file under ``root``: (200, path), or (403|404, None).

    The path is percent-decoded once, then resolved with symlinks followed; whatever does not
    end up strictly inside ``root`` is refused, so ``/../x``, ``/%2e%2e/x``, ``//etc/passwd``
    and a symlink pointing out of the folder all fail.
    """
    path = unquote(urlsplit(target).path)
    if "\x00" in path or "\\" in path:
        return 403, None
    relative = path.lstrip("/") or INDEX
    if any(part == ".." for part in relative.split("/")):
        return 403, None
    try:
        candidate = (root / relative).resolve()
        if candidate.is_dir():  # its index is checked like any other path (it may be a symlink)
            candidate = (candidate / INDEX).resolve()
        if candidate != root and root not in candidate.parents:
            return 403, None
        # pathlib swallows only some errors: ENAMETOOLONG (a 300-byte name) would escape
        if not candidate.is_file():
            return 404, None
    except (OSError, RuntimeError):
        return 404, None
    return 200, candidate


class DemoHandler(SortingHandler):
    """WebSocket echo, EventSource stream or static file, by what the request asks for.

    SortingHandler (the command line's ``serve``) does the TLS handshake on the handler's thread,
    bounded, answers a TLS-versus-plain mix-up with one clear log line, and writes the access log.
    """

    protocol_version = "HTTP/1.1"
    server_version = "faye_websocket-demo"
    allow_drafts = False

    def do_GET(self) -> None:
        """Dispatch one GET request."""
        if WebSocket.is_websocket(self):
            self.echo_websocket()
        elif is_event_source(self):
            from demo_eventsource import serve_demo_stream

            serve_demo_stream(self)
        else:
            self.send_static(head_only=False)

    def do_HEAD(self) -> None:
        """Headers of a static file."""
        self.send_static(head_only=True)

    def echo_websocket(self) -> None:
        """Echo every message back until the client closes."""
        ws = WebSocket.from_handler(self, PROTOCOLS, extensions=extensions(), ping=PING_INTERVAL,
                                    allow_drafts=self.allow_drafts)
        self.log_upgrade(ws)  # 101, or the status it was refused with
        ws.on("message", lambda event: event.target.send(event.data))
        ws.run()

    def send_static(self, *, head_only: bool) -> None:
        """A file from the examples folder, or 403/404."""
        status, path = resolve_static(HERE, self.path)
        if path is None:
            self.send_error(status)
            return
        body = path.read_bytes()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if not head_only:
            self.wfile.write(body)


def make_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away certificate for localhost and 127.0.0.1: (cert, key, CA to trust)."""
    cert, key, ca = directory / "server.crt", directory / "server.key", directory / "ca.pem"
    try:
        import trustme
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise SystemExit("--tls needs the trustme package or the openssl command") from None
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"],
            check=True, capture_output=True,
        )
        shutil.copyfile(cert, ca)  # self-signed: the certificate is its own CA
        return cert, key, ca
    authority = trustme.CA()
    leaf = authority.issue_cert("localhost", "127.0.0.1", "::1")
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(ca))
    return cert, key, ca


def build_server(host: str, port: int, *, tls_dir: Path | None, allow_drafts: bool) -> ServeServer:
    """The configured server, bound and listening."""
    handler = type("Handler", (DemoHandler,), {"allow_drafts": allow_drafts})
    server = ServeServer((host, port), handler)
    if tls_dir is not None:
        cert, key, ca = make_certificate(tls_dir)
        server.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.tls_context.load_cert_chain(str(cert), str(key))
        print(f"TLS certificate: {cert} (CA to trust: {ca})", flush=True)
    return server


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, serve until SIGINT or SIGTERM, then close connections (1001)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tls", action="store_true", help="serve https/wss with a self-signed certificate")
    parser.add_argument("--allow-drafts", action="store_true", help="accept hixie-75/76 handshakes")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="faye-demo-") as tmp:
        server = build_server(options.host, options.port, tls_dir=Path(tmp) if options.tls else None,
                              allow_drafts=options.allow_drafts)
        scheme = "https" if options.tls else "http"
        host, port = server.server_address[:2]
        print(f"Listening on {scheme}://{host}:{port}/", flush=True)
        serve_until_signalled(server)


if __name__ == "__main__":
    main()
