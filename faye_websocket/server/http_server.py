"""http.server integration: a ThreadingHTTPServer whose shutdown closes its WebSockets.

``WebSocket.from_handler(handler)`` registers the new WebSocket with ``handler.server`` when the
server has ``track_websocket``; ``WebSocketHTTPServer`` has it, and its ``server_close()``
closes every live WebSocket with 1001 (going away) before closing the listening socket, so
``shutdown(); server_close()`` returns promptly even while clients are connected.

Under load it degrades instead of falling over: every request head is read under a deadline
and a size cap (``head_timeout``, ``max_head_size``: 408/431, see ``head_limits``), connections
beyond ``max_connections`` get a fast 503 and no thread, and accepting pauses when the process
is out of descriptors or threads (see ``admission``).

::

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if WebSocket.is_websocket(self):
                ws = WebSocket.from_handler(self, ["irc", "xmpp"])
                ws.on("message", lambda event: ws.send(event.data))
                ws.run()

    server = WebSocketHTTPServer(("127.0.0.1", 8000), Handler)
"""

from __future__ import annotations

import signal
import socketserver
import threading
from http.server import ThreadingHTTPServer
from types import FrameType
from typing import Any

from ..api import WebSocketAPI
from ..driver.http import MAX_HEAD_SIZE
from .admission import AdmissionMixIn
from .head_limits import DEFAULT_HEAD_TIMEOUT, guarded_handler
from .thread_reuse import ThreadReuseMixIn
from .tracking import DEFAULT_SHUTDOWN_GRACE, LISTEN_BACKLOG, ConnectionTracker, Stream


class WebSocketHTTPServer(AdmissionMixIn, ThreadReuseMixIn, ThreadingHTTPServer):
    """ThreadingHTTPServer (daemon handler threads) that tracks the WebSockets it upgrades.

    Class attributes (set on a subclass, or on the instance before serving):

    - ``shutdown_grace``: seconds ``server_close()`` waits for peers to answer the 1001 close
      frame before it cuts the remaining connections.
    - ``head_timeout`` (10 s) and ``max_head_size`` (16 KiB): the deadline and the size cap of
      each request head; past them the client gets 408 or 431 and is disconnected.
    - ``max_connections``, ``retry_after``, ``overload_log_interval``: admission (see
      ``faye_websocket.server.admission``); by default at most 4096 connections, fewer when the
      descriptor limit leaves fewer.
    - ``idle_thread_timeout`` (None: off) and ``max_idle_threads``: a handler thread whose
      connection has ended waits that long for the next one instead of ending (see
      ``faye_websocket.server.thread_reuse``); ``faye-websocket serve`` and the demo server
      turn it on.

    The handler class is used through a subclass that adds the head guard (same name).
    """

    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    request_queue_size = LISTEN_BACKLOG
    head_timeout: float = DEFAULT_HEAD_TIMEOUT
    max_head_size: int = MAX_HEAD_SIZE

    def __init__(self, server_address: Any, RequestHandlerClass: Any, bind_and_activate: bool = True) -> None:
        self.websockets = ConnectionTracker()
        self._admission_init()
        self._thread_reuse_init()
        super().__init__(server_address, guarded_handler(RequestHandlerClass), bind_and_activate)

    def track_websocket(self, websocket: WebSocketAPI) -> None:
        """Remember ``websocket`` until it closes (called by ``WebSocket.from_handler``)."""
        self.websockets.add(websocket)

    def track_event_source(self, stream: Stream) -> None:
        """Remember an EventSource ``stream`` until it closes (called by ``EventSource.from_handler``)."""
        self.websockets.add(stream)

    def server_close(self) -> None:
        """Close live WebSockets with 1001 (bounded by ``shutdown_grace``) and event streams, then
        the listener."""
        self.websockets.close_all(grace=self.shutdown_grace)
        super().server_close()


def serve_until_signalled(server: socketserver.BaseServer) -> None:
    """Serve on the calling (main) thread until SIGINT or SIGTERM, then ``server_close()``.

    The signal handler only starts ``shutdown()`` on a helper thread: called on the thread inside
    ``serve_forever()`` it would wait for itself. With a ``WebSocketHTTPServer`` the close then
    ends live WebSockets with 1001 and live event streams.

    Our servers' ``serve_forever()`` raises the interpreter's switch interval (their
    ``switch_interval``, see ``server/admission.py``), so a thousand threads waiting for the
    GIL do not wake each other more often than messages arrive.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        server.server_close()
