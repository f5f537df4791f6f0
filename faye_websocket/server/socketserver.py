"""socketserver integration: a raw TCP server whose handler hands its socket to a WebSocket.

No http.server here: the WebSocket's driver reads the HTTP head from the socket itself (like
websocket-driver's ``driver.server()``), so bytes the client pipelines after the head are never
lost. Subclass ``WebSocketRequestHandler`` and override ``setup_websocket`` to attach listeners;
``handle()`` then runs the reader loop until the connection closes.

::

    class Echo(WebSocketRequestHandler):
        protocols = ["irc", "xmpp"]

        def setup_websocket(self, ws):
            ws.on("message", lambda event: ws.send(event.data))

    with ThreadingWebSocketServer(("127.0.0.1", 0), Echo) as server:
        server.serve_forever()
"""

from __future__ import annotations

import socketserver
from typing import Any, ClassVar, Mapping, Sequence

from .admission import AdmissionMixIn
from .tracking import DEFAULT_SHUTDOWN_GRACE, LISTEN_BACKLOG, ConnectionTracker
from .websocket import WebSocket


class WebSocketRequestHandler(socketserver.BaseRequestHandler):
    """Turns one accepted TCP connection into a WebSocket and reads it until it closes.

    Class attributes: ``protocols`` (subprotocols the server supports) and ``websocket_options``
    (keyword options for ``WebSocket``, e.g. ``{"ping": 20}``).
    """

    protocols: ClassVar[Sequence[str] | None] = None
    websocket_options: ClassVar[Mapping[str, Any]] = {}

    def handle(self) -> None:
        """Build the WebSocket (the head is read by its driver), call setup_websocket, run.

        If setup_websocket raises, the WebSocket is failed (its close event is dispatched, so
        the server forgets it) and the exception goes on to the server's handle_error.
        """
        websocket = WebSocket(None, self.request, b"", self.protocols, **dict(self.websocket_options))
        self.websocket = websocket
        track = getattr(self.server, "track_websocket", None)
        if callable(track):
            track(websocket)
        try:
            self.setup_websocket(websocket)
        except BaseException:
            websocket.connection.abort("setup_websocket raised")
            websocket.run()  # dispatches the close event; returns at once
            raise
        websocket.run()

    def setup_websocket(self, websocket: WebSocket) -> None:
        """Attach listeners before any event is dispatched; the default does nothing."""


class ThreadingWebSocketServer(AdmissionMixIn, socketserver.ThreadingTCPServer):
    """A thread-per-connection TCP server whose ``server_close()`` closes live WebSockets (1001).

    The request head is read by the WebSocket's driver under ``handshake_timeout`` (in
    ``websocket_options``, 10 s by default) and its 16 KiB cap (431). Admission as for
    ``WebSocketHTTPServer``: ``max_connections`` (503 beyond it), ``retry_after``,
    ``overload_log_interval`` (see ``faye_websocket.server.admission``).
    """

    daemon_threads = True
    allow_reuse_address = True
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.websockets = ConnectionTracker()
        self._admission_init()
        super().__init__(*args, **kwargs)

    def track_websocket(self, websocket: WebSocket) -> None:
        """Remember ``websocket`` until it closes (called by WebSocketRequestHandler)."""
        self.websockets.add(websocket)

    def server_close(self) -> None:
        """Close live WebSockets with 1001 (bounded by ``shutdown_grace``), then the listener."""
        self.websockets.close_all(grace=self.shutdown_grace)
        super().server_close()
