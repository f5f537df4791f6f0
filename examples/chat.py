"""A chat server: rooms over WebSocket and EventSource, one process or many sharing Redis.

    python3 examples/chat.py PORT [--host HOST] [--redis URL]

- ``/chat/<room>`` (room: 1-64 letters, digits, ``-`` or ``_``) as a WebSocket: every text
  message a client sends is delivered, unchanged, to every member of the room (the sender
  included) in every process; there are no join or leave notices. Binary messages are ignored.
- ``/chat/<room>`` with ``Accept: text/event-stream``: the room's messages as ``data:`` events.
- ``/``: a page to chat from (examples/framework_chat.html).

With ``--redis URL`` (``redis://host:port/db``) every process started with the same URL is one
chat: run several behind haproxy or nginx (docs/scaling.md). Without Redis reachable at start
the server exits with status 2 and says why. The 101 response carries ``X-Chat-Process: <pid>``
so that one can see which process a client reached.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(HERE.parent))

from faye_websocket import EventSource, PermessageDeflate, WebSocket  # noqa: E402
from faye_websocket.broadcast import Group  # noqa: E402
from faye_websocket.server.http_server import WebSocketHTTPServer, serve_until_signalled  # noqa: E402

ROOM_PATH = re.compile(r"^/chat/([A-Za-z0-9_-]{1,64})/?$")
MAX_ROOMS = 1000  # each room is a group (and a Redis stream followed): a client cannot make more
PING_INTERVAL = 20.0  # keeps proxies (haproxy's timeout tunnel, nginx's proxy_read_timeout) quiet
PAGE = HERE / "framework_chat.html"  # the chat page the framework examples serve too
EXIT_NO_REDIS = 2


class Rooms:
    """The room groups of this process, made on first use; any thread."""

    def __init__(self, backend: Any = None) -> None:
        self._backend = backend
        self._lock = threading.Lock()
        self._groups: dict[str, Group] = {}

    def get(self, name: str) -> Group | None:
        """The room's group; None once MAX_ROOMS rooms exist and this is a new one."""
        with self._lock:
            group = self._groups.get(name)
            if group is None and len(self._groups) < MAX_ROOMS:
                group = self._groups[name] = Group(name, backend=self._backend)
            return group

    def close(self) -> None:
        """Let every group go (their connections are closed by the server)."""
        with self._lock:
            groups, self._groups = list(self._groups.values()), {}
        for group in groups:
            group.close()


class ChatHandler(BaseHTTPRequestHandler):
    """WebSocket or EventSource on /chat/<room>, the page on /."""

    protocol_version = "HTTP/1.1"
    server_version = "faye_websocket-chat"
    rooms: Rooms

    def do_GET(self) -> None:
        """Dispatch one GET request."""
        match = ROOM_PATH.match(self.path.split("?", 1)[0])
        if match is None:
            self.send_page() if self.path.split("?", 1)[0] in ("/", "/index.html") else self.send_error(404)
            return
        group = self.rooms.get(match.group(1))
        if group is None:
            self.send_error(503, "too many rooms")
        elif WebSocket.is_websocket(self):
            self.chat_websocket(group)
        elif EventSource.is_event_source(self):
            self.chat_event_source(group)
        else:
            self.send_error(400, "ask for a WebSocket or an event stream")

    def chat_websocket(self, group: Group) -> None:
        """Publish every text message to the room until the client leaves."""
        # No context takeover: every member with the same settings shares one compressed frame.
        ws = WebSocket.from_handler(self, extensions=[PermessageDeflate(no_context_takeover=True)],
                                    ping=PING_INTERVAL, headers={"X-Chat-Process": str(os.getpid())})

        def on_message(event: Any) -> None:
            if isinstance(event.data, str):
                group.publish(event.data)

        ws.on("message", on_message)
        group.join(ws)
        ws.run()

    def chat_event_source(self, group: Group) -> None:
        """Stream the room's messages as data: events until the client goes."""
        stream = EventSource.from_handler(self, headers={"X-Chat-Process": str(os.getpid())})
        group.join(stream)  # from_handler keeps the connection until the stream closes

    def send_page(self) -> None:
        """The chat page."""
        body = PAGE.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Access log on stderr, one line per request."""
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """PORT [--host HOST] [--redis URL]."""
    parser = argparse.ArgumentParser(description="Chat rooms over WebSocket and EventSource.")
    parser.add_argument("port", type=int, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--redis", metavar="URL", help="share rooms with every process using this Redis")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chat server until SIGINT or SIGTERM; returns the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    backend = None
    if args.redis:
        from faye_websocket.broadcast import RedisBackend, RedisUnavailable

        try:
            backend = RedisBackend(args.redis)
        except RedisUnavailable as error:
            print(f"chat.py: {error}", file=sys.stderr)
            return EXIT_NO_REDIS
    rooms = Rooms(backend)
    handler = type("Handler", (ChatHandler,), {"rooms": rooms})
    server = WebSocketHTTPServer((args.host, args.port), handler)
    host, port = server.server_address[:2]
    where = f"sharing rooms through Redis at {backend.url}" if backend else "local rooms only"
    print(f"chat on http://{host}:{port}/ (process {os.getpid()}, {where})", flush=True)
    try:
        serve_until_signalled(server)
    finally:
        rooms.close()
        if backend is not None:
            backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
