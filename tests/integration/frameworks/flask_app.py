"""The Flask application the framework tests run under real servers.

    gunicorn -k gthread --chdir tests/integration/frameworks flask_app:app
    flask --app flask_app run --port PORT               (cwd tests/integration/frameworks)
    python3 flask_app.py PORT run_simple|wsgiref

Routes: ``/`` (readiness), ``/login/<name>`` (puts the name in the session), WebSockets at
``/echo/<room>`` (replies ``room|hook|text``), ``/private/<room>`` (the session checked by a
``before_request`` hook), ``/guarded/<room>`` (checked by a route decorator;
plain requests get a page), ``/closing/<room>``
(the server closes after the first message), ``/by-hand/<room>`` (``from_environ`` in a
plain view that returns an ordinary response), the event stream ``/events/<int:count>``, and
``/stats`` (how many streams and sockets have ended, as JSON).
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

from ended import counter, counts
from flask import Flask, abort, g, jsonify, request, session

from faye_websocket import EventSource, WebSocket
from faye_websocket.frameworks.flask import event_stream_route, websocket_route
from faye_websocket.server.wsgi import from_environ

app = Flask(__name__)
app.secret_key = "framework tests only"
PRIVATE_PREFIX = "/private/"



@app.before_request
def mark_and_check() -> None:
    g.hook = "hooked"
    if request.path.startswith(PRIVATE_PREFIX) and "user" not in session:
        abort(403)


def user_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def checked(**kwargs: Any) -> Any:
        if "user" not in session:
            abort(403)
        return view(**kwargs)

    return checked


@app.get("/")
def index() -> str:
    return "flask ok"


@app.get("/login/<name>")
def login(name: str) -> str:
    session["user"] = name
    return "logged in"


@app.get("/stats")
def stats() -> Any:
    return jsonify(counts())


@websocket_route(app, "/echo/<room>")
def echo(ws: WebSocket, room: str) -> None:
    ws.on("close", counter("sockets"))
    for message in ws:
        ws.send(f"{room}|{g.hook}|{message}" if isinstance(message, str) else message)


@websocket_route(app, "/private/<room>")
def private(ws: WebSocket, room: str) -> None:
    ws.on("close", counter("sockets"))
    ws.on("message", lambda event: ws.send(f"{session['user']}@{room}: {event.data}"))


@websocket_route(app, "/guarded/<room>", decorators=[user_required])
def guarded(ws: WebSocket, room: str) -> None:
    ws.on("close", counter("sockets"))
    ws.send(f"welcome {session['user']} to {room}")


@app.get("/guarded/<room>")
def guarded_page(room: str) -> str:
    """A page at the same URL as a WebSocket route: werkzeug routes plain requests here."""
    return f"the page of {room}"


@websocket_route(app, "/closing/<room>")
def closing(ws: WebSocket, room: str) -> None:
    ws.on("close", counter("sockets"))
    ws.recv(timeout=10)
    ws.close(1000, f"closed {room}")


@app.route("/by-hand/<room>", websocket=True)
def by_hand(room: str) -> str:
    """The takeover by hand, in a plain view that then returns an ordinary response."""
    ws = from_environ(request.environ)
    ws.on("close", counter("sockets"))
    ws.on("message", lambda event: ws.send(f"{room}: {event.data}"))
    ws.run()
    return "the server writes this nowhere"


@event_stream_route(app, "/events/<int:count>", retry=2, ping=1)
def events(es: EventSource, count: int) -> None:
    es.on("close", counter("streams"))
    for n in range(count):
        es.send(f"{g.hook} {n}", id=n)
    # returning leaves the stream open until the client goes


def main(argv: list[str]) -> None:
    """``flask_app.py PORT run_simple|wsgiref``: serve on 127.0.0.1 with a threaded dev server."""
    port, kind = int(argv[1]), argv[2]
    if kind == "run_simple":
        from werkzeug.serving import run_simple

        run_simple("127.0.0.1", port, app, threaded=True)
        return
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIServer, make_server

    class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    print(f"wsgiref listening on {port}", flush=True)
    make_server("127.0.0.1", port, app, server_class=ThreadingWSGIServer).serve_forever()


if __name__ == "__main__":
    main(sys.argv)
