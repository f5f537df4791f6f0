"""Flask routes whose view takes the connection over: a WebSocket, or an event stream.

::

    app = Flask(__name__)

    @websocket_route(app, "/chat/<room>")
    def chat(ws, room):                  # on the request's thread, inside the request context
        for message in ws:
            ws.send(message)

    @event_stream_route(app, "/clock")
    def clock(es):
        while es.send(time.ctime()):     # False once the client has gone
            time.sleep(1)

``websocket_route`` registers the rule with ``websocket=True``: without it werkzeug's router
answers an upgrade request with 400 before any view runs. Everything Flask does before a view
runs first, so ``before_request`` hooks (of the app or the blueprint), the session, ``g`` and
``abort()`` there answer the handshake with an ordinary HTTP response; so do the
``decorators`` given to the route (applied as Flask's class-based views apply theirs), such as a
login check. Once the view is called the 101 is out: the view gets the open WebSocket, its URL
variables as keyword arguments, and the request context. When it returns the reader loop runs
until the connection closes (so a view may just attach listeners), then Flask's
``after_request`` hooks and teardown run as usual and the server writes nothing more on the
connection (a session changed after the takeover is not sent). An exception in the view is
logged and closes the connection with 1011.

Runs under gunicorn (``-k gthread``; see docs/deployment.md), ``flask run`` and werkzeug's
``run_simple`` (threaded), and wsgiref; a server that cannot hand over its socket (waitress)
answers 501.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Mapping, TypeVar, Union

from flask import Blueprint, Flask, Response, current_app, request

from ..eventsource import wire
from ..eventsource.writer import EventSource
from ..server.websocket import WebSocket
from ..server.wsgi import STATUS_NOT_IMPLEMENTED, UpgradeNotSupported, finish
from .views import Protocols, check_options, serve_event_stream, serve_websocket

Handler = TypeVar("Handler", bound=Callable[..., object])
Scaffold = Union[Flask, Blueprint]
ViewDecorator = Callable[[Callable[..., Any]], Callable[..., Any]]
STATUS_SWITCHING_PROTOCOLS = 101  # RFC 9110 section 15.2.2: what the server logs for a WebSocket
STATUS_OK = 200


def websocket_route(
    scaffold: Scaffold,
    rule: str,
    protocols: Protocols = None,
    *,
    endpoint: str | None = None,
    decorators: Iterable[ViewDecorator] = (),
    **options: Any,
) -> Callable[[Handler], Handler]:
    """Register ``view(ws, **url_variables)`` for WebSocket requests to ``rule``.

    ``scaffold`` is the app or a blueprint; ``protocols`` the subprotocols offered; ``options``
    are WebSocket options (``extensions``, ``ping``, ``origin``, ``max_length``...: TypeError
    here for an unknown one). ``endpoint`` defaults to the view's name. ``decorators`` wrap the
    view before the takeover, the first one innermost. Returns the view unchanged. A plain
    HTTP request to the rule gets werkzeug's 400 (the rule only matches upgrades).
    """
    check_options(WebSocket, options)

    def register(view: Handler) -> Handler:
        @functools.wraps(view)
        def take_over(**url_variables: Any) -> Response:
            try:
                serve_websocket(request.environ, lambda ws: view(ws, **url_variables), protocols, options)
            except UpgradeNotSupported as error:
                return Response(str(error), STATUS_NOT_IMPLEMENTED, mimetype="text/plain")
            return taken_over(STATUS_SWITCHING_PROTOCOLS)

        scaffold.add_url_rule(rule, endpoint or view.__name__, _decorated(take_over, decorators),
                              websocket=True)
        return view

    return register


def event_stream_route(
    scaffold: Scaffold,
    rule: str,
    *,
    endpoint: str | None = None,
    decorators: Iterable[ViewDecorator] = (),
    **options: Any,
) -> Callable[[Handler], Handler]:
    """Register ``view(es, **url_variables)`` for GET requests to ``rule``: an event stream.

    ``es`` is an ``EventSource`` whose head is already written; ``options`` are its options
    (``ping``, ``retry``, ``headers``: TypeError here for an unknown one). The view may loop on
    ``es.send()`` or hand ``es`` to other threads and return: the request's thread then waits
    until the stream is closed (``es.close()``, or the client leaving). A HEAD request gets the
    head of an empty stream. ``endpoint`` and ``decorators`` as for ``websocket_route``.
    """
    check_options(EventSource, options)

    def register(view: Handler) -> Handler:
        @functools.wraps(view)
        def take_over(**url_variables: Any) -> Response:
            if request.method == "HEAD":
                return Response(status=STATUS_OK, mimetype=wire.CONTENT_TYPE)
            try:
                serve_event_stream(request.environ, lambda es: view(es, **url_variables), options)
            except UpgradeNotSupported as error:
                return Response(str(error), STATUS_NOT_IMPLEMENTED, mimetype="text/plain")
            return taken_over(STATUS_OK)

        scaffold.add_url_rule(rule, endpoint or view.__name__, _decorated(take_over, decorators),
                              methods=["GET"])
        return view

    return register


def taken_over(status: int) -> Response:
    """The response to return from a view that has taken its connection over (and closed it).

    Flask's ``after_request`` hooks see it like any response; when the server asks for it, it
    makes sure nothing is written (``server.wsgi.finish``). It is an instance of the app's own
    ``response_class``, so that Flask does not convert it. ``status`` is what the server logs.
    """
    return _taken_over_class(current_app.response_class)(status=status)


# One subclass per response class an app uses; filled on first use (dict.setdefault is atomic).
_TAKEN_OVER: dict[type[Response], type[Response]] = {}


def _taken_over_class(base: type[Response]) -> type[Response]:
    known = _TAKEN_OVER.get(base)
    if known is not None:
        return known

    def __call__(
        self: Response, environ: Mapping[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        return finish(environ, start_response, self.status)

    return _TAKEN_OVER.setdefault(base, type("TakenOverResponse", (base,), {"__call__": __call__}))


def _decorated(view: Callable[..., Any], decorators: Iterable[ViewDecorator]) -> Callable[..., Any]:
    for decorator in decorators:
        view = decorator(view)
    return view
