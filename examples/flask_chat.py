"""A chat in a Flask app: WebSocket rooms at /chat/<room>, the page at /.

    python3 examples/flask_chat.py PORT                                   (werkzeug's dev server)
    gunicorn -k gthread --threads 50 --chdir examples flask_chat:application

Every text message a client sends to /chat/<room> reaches every client in that room, the sender
included, unchanged. Each open WebSocket holds one of the server's threads for as long as it is
open: see docs/deployment.md for sizing ``--threads``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(HERE.parent))

from chat_rooms import Rooms  # noqa: E402
from flask import Flask, Response  # noqa: E402

from faye_websocket import WebSocket  # noqa: E402
from faye_websocket.frameworks.flask import websocket_route  # noqa: E402

PAGE = HERE / "framework_chat.html"
app = Flask(__name__)
rooms = Rooms()


@app.get("/")
def page() -> Response:
    """The chat page."""
    return Response(PAGE.read_bytes(), mimetype="text/html")


@websocket_route(app, "/chat/<room>")
def chat(ws: WebSocket, room: str) -> None:
    """One client's session in ``room``, on its request's thread."""
    rooms.chat(room, ws)


application = app  # the WSGI application, for gunicorn


def main(argv: list[str]) -> None:
    """Serve on 127.0.0.1:PORT (default 8000) with werkzeug's threaded dev server."""
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", int(argv[1]) if len(argv) > 1 else 8000, app, threaded=True)


if __name__ == "__main__":
    main(sys.argv)
