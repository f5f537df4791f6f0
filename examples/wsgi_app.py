"""A WSGI application: WebSocket echo on every path, and the echo page for plain GET requests.

    python3 examples/wsgi_app.py PORT                          (werkzeug if installed, else wsgiref)
    gunicorn -k gthread --chdir examples wsgi_app:application  (gthread: long-lived connections
                                                                outlive gunicorn's sync timeout)

The WebSocket takes the connection over from the WSGI server (see
faye_websocket/adapters/wsgi.py); a server that offers no socket, such as waitress, answers
501 Not Implemented to upgrade requests.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterable

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(HERE.parent))

from faye_websocket.server.websocket import WebSocket  # noqa: E402
from faye_websocket.server.wsgi import websocket_app  # noqa: E402

PROTOCOLS = ["irc", "xmpp"]
PAGE = HERE / "ws.html"


def echo(ws: WebSocket) -> None:
    """Echo every message until the client closes (runs on the WSGI server's request thread)."""
    ws.on("message", lambda event: event.target.send(event.data))
    ws.run()


def page(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The echo page at / and /ws.html; 404 elsewhere."""
    if environ.get("PATH_INFO", "/") in ("/", "/ws.html"):
        body = PAGE.read_bytes()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"Not Found"]


def _extensions() -> list[Any]:
    try:
        from faye_websocket.extensions.permessage_deflate import PermessageDeflate
    except ImportError:  # pragma: no cover - the extension ships with the package
        return []
    return [PermessageDeflate()]


application = websocket_app(echo, PROTOCOLS, fallback=page, extensions=_extensions())


def main(argv: list[str]) -> None:
    """Serve ``application`` on 127.0.0.1:PORT with a threaded server."""
    port = int(argv[1]) if len(argv) > 1 else 8000
    try:
        from werkzeug.serving import make_server
    except ImportError:
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIServer
        from wsgiref.simple_server import make_server as make_wsgiref

        class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
            daemon_threads = True

        server: Any = make_wsgiref("127.0.0.1", port, application, server_class=ThreadingWSGIServer)
    else:
        server = make_server("127.0.0.1", port, application, threaded=True)
    print(f"Listening on http://127.0.0.1:{server.server_port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv)
