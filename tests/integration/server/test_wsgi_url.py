"""The WSGI URL rule: a WebSocket and an event stream of one WSGI application report the same
``url`` (ws:// or http:// aside) for a path with spaces, non-ASCII characters and an encoded slash
plus a query string, on real WSGI servers, whether or not the server passes the raw request target
on (gunicorn's and werkzeug's ``RAW_URI`` / ``REQUEST_URI``; a middleware strips them for the
second case). One implementation builds both: faye_websocket/server/takeover.py,
request_from_environ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from faye_websocket.client import connect
from faye_websocket.eventsource.client import EventSourceClient
from faye_websocket.eventsource.writer import EventSource
from faye_websocket.eventsource.wsgi import EventSourceResponse
from faye_websocket.server.websocket import WebSocket
from faye_websocket.server.wsgi import websocket_app
from tests.integration.components import gunicorn_server, werkzeug_server, wsgiref_server
from tests.integration.eventsource_support import take
from tests.integration.server_support import WAIT
from tests.paths import REPO_ROOT

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
RAW_TARGET_KEYS = ("RAW_URI", "REQUEST_URI")  # gunicorn sets both, werkzeug both, wsgiref neither
# A space, "été" in UTF-8, an encoded slash (one path segment "x/y"), and a query that is kept as sent.
TARGET = "/a%20b/%C3%A9t%C3%A9/x%2Fy?q=%20%C3%A9&r=1"
# PEP 3333's reconstruction from SCRIPT_NAME + PATH_INFO (percent-decoded, so %2F is a "/" there
# and cannot be told apart from one) + QUERY_STRING: what the url is when the server gives no raw
# target.
RECONSTRUCTED = "/a%20b/%C3%A9t%C3%A9/x/y?q=%20%C3%A9&r=1"


def report(url: str, environ: dict[str, Any]) -> str:
    """What the application sends back: its own url, and the raw target the server passed on."""
    raw_target = next((environ[key] for key in RAW_TARGET_KEYS if key in environ), None)
    return json.dumps({"url": url, "raw_target": raw_target})


def report_websocket(ws: WebSocket, environ: dict[str, Any]) -> None:
    ws.send(report(ws.url, environ))
    ws.close()


def event_stream(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if not EventSource.is_event_source(environ):  # gunicorn_server's readiness probe
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
        return [b"ready\n"]
    es = EventSourceResponse(environ, start_response, ping=None, retry=None)
    es.send(report(es.url, environ))
    es.close()  # the queued event is still sent, then the response ends
    return es


def url_reporting_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WebSocket or an event stream at any path, each sending ``report()`` once and closing;
    a plain 200 for other requests."""
    websocket = websocket_app(lambda ws: report_websocket(ws, environ), fallback=event_stream)
    return websocket(environ, start_response)


def without_raw_target(app: WSGIApp) -> WSGIApp:
    """Middleware: the environ without RAW_URI / REQUEST_URI, as a server that sets neither."""

    def stripped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for key in RAW_TARGET_KEYS:
            environ.pop(key, None)
        return app(environ, start_response)

    return stripped


stripped_app = without_raw_target(url_reporting_app)
# Each case: the name gunicorn imports from this module ("module:name"), and the application.
APPS: dict[str, tuple[str, WSGIApp]] = {
    "as_served": ("url_reporting_app", url_reporting_app),
    "stripped": ("stripped_app", stripped_app),
}


@contextmanager
def gunicorn_port(name: str) -> Iterator[int]:
    """gunicorn (gthread, a subprocess) serving this module's application ``name``."""
    with gunicorn_server(f"{__name__}:{name}", pythonpath=REPO_ROOT, ready_path="/ready") as (port, _):
        yield port


SERVERS: dict[str, Callable[[str, WSGIApp], AbstractContextManager[int]]] = {
    "wsgiref": lambda name, app: wsgiref_server(app),
    "werkzeug": lambda name, app: werkzeug_server(app),
    "gunicorn": lambda name, app: gunicorn_port(name),
}


@pytest.mark.parametrize("app", list(APPS))
@pytest.mark.parametrize("server", list(SERVERS))
def test_a_websocket_and_an_event_stream_of_one_wsgi_app_report_the_same_url(
    no_leaks: None, server: str, app: str
) -> None:
    with SERVERS[server](*APPS[app]) as port:
        with connect(f"ws://127.0.0.1:{port}{TARGET}", connect_timeout=WAIT) as ws:
            from_websocket = json.loads(ws.recv(WAIT))
        stream = EventSourceClient(f"http://127.0.0.1:{port}{TARGET}", reconnect=False)
        (event,) = take(stream, 1)
        stream.close()
        from_stream = json.loads(event.data)
    assert from_stream["url"].replace("http://", "ws://", 1) == from_websocket["url"]  # the rule
    assert from_websocket["raw_target"] == from_stream["raw_target"]
    if app == "stripped":
        assert from_websocket["raw_target"] is None
    elif server != "wsgiref":
        assert from_websocket["raw_target"] == TARGET  # so the first case is really exercised
    expected = TARGET if from_websocket["raw_target"] else RECONSTRUCTED
    assert from_websocket["url"] == f"ws://127.0.0.1:{port}{expected}"
    assert from_stream["url"] == f"http://127.0.0.1:{port}{expected}"
