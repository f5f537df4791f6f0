"""Django views that take the connection over: a WebSocket, or an event stream.

::

    @websocket_view
    def echo(request, ws, room):          # urls.py: path("chat/<str:room>", echo)
        for message in ws:
            ws.send(message)

    @login_required_403                   # any check above the decorator runs before the takeover
    @websocket_view(protocols=["chat"], ping=20)
    def chat(request, ws, room):
        ...

    @event_stream_view
    def clock(request, es):
        while es.send(time.ctime()):      # False once the client has gone
            time.sleep(1)

The middleware runs first, as for any view, so the view sees ``request.user`` and
``request.session``, and a check in a decorator above (or a middleware) answers the handshake
with an ordinary HTTP response (``PermissionDenied`` gives 403). Once the view is called the
101 is out: the view gets the request, the open WebSocket and its URL arguments. When it
returns the reader loop runs until the connection closes (so a view may just attach
listeners); then the middleware's response hooks run as usual (a session changed after the
takeover is saved, but no cookie reaches the client) and the server writes nothing more on the
connection. An exception in the view is logged and closes the connection with 1011.

CSRF protection checks unsafe methods only, so it does not touch the GET of a handshake; to
refuse WebSocket connections from pages of other sites, pass ``origin=[...]`` (the browser sends
``Origin``; a refused handshake gets 403). ``X-Frame-Options`` and other headers that middleware
adds to the response are never sent.

Runs under gunicorn (``-k gthread``; see docs/deployment.md) and ``manage.py runserver``; a
server that cannot hand over its socket answers 501.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, TypeVar, overload

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from ..eventsource import wire
from ..eventsource.writer import EventSource
from ..server.websocket import WebSocket
from ..server.wsgi import STATUS_NOT_IMPLEMENTED, STATUS_UPGRADE_REQUIRED, UpgradeNotSupported, release
from .views import Protocols, check_options, serve_event_stream, serve_websocket

View = Callable[..., Any]
Decorated = TypeVar("Decorated", bound=View)
STATUS_SWITCHING_PROTOCOLS = 101  # RFC 9110 section 15.2.2: what the server logs for a WebSocket
STATUS_OK = 200


class TakenOverResponse(HttpResponse):  # type: ignore[misc]  # Django ships no type hints
    """What a view returns once it has taken its connection over (and the connection is closed).

    The middleware sees an empty response; when the server iterates it for the body, it makes
    sure nothing is written (``server.wsgi.release``: gunicorn stops without writing, the other
    servers find the socket shut down). ``status`` is what the server logs.
    """

    def __init__(self, environ: Mapping[str, Any], status: int) -> None:
        super().__init__(status=status)
        self["Cache-Control"] = "no-store"  # no ETag from ConditionalGetMiddleware, so no 304
        self._environ = environ

    def __iter__(self) -> Any:
        release(self._environ)  # raises StopIteration under gunicorn, from iter() itself
        return iter(())


@overload
def websocket_view(view: Decorated, /) -> Decorated: ...
@overload
def websocket_view(*, protocols: Protocols = None, **options: Any) -> Callable[[Decorated], Decorated]: ...


def websocket_view(view: View | None = None, /, *, protocols: Protocols = None, **options: Any) -> Any:
    """Turn ``view(request, ws, *args, **kwargs)`` into a Django view that takes a WebSocket over.

    Use bare (``@websocket_view``) or with options (``@websocket_view(protocols=[...], ping=20)``):
    ``protocols`` are the subprotocols offered, ``options`` WebSocket options (``extensions``,
    ``ping``, ``origin``...: TypeError here for an unknown one). A request that is not a
    WebSocket handshake gets 426 Upgrade Required; a server without a socket to hand over, 501.
    """
    check_options(WebSocket, options)

    def decorate(view: Decorated) -> Decorated:
        @functools.wraps(view)
        def take_over(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            environ = request.META
            if not WebSocket.is_websocket(environ):
                return _plain(STATUS_UPGRADE_REQUIRED, "This resource speaks WebSocket only")
            try:
                serve_websocket(environ, lambda ws: view(request, ws, *args, **kwargs), protocols, options)
            except UpgradeNotSupported as error:
                return _plain(STATUS_NOT_IMPLEMENTED, str(error))
            return TakenOverResponse(environ, STATUS_SWITCHING_PROTOCOLS)

        return take_over  # type: ignore[return-value]

    return decorate if view is None else decorate(view)


@overload
def event_stream_view(view: Decorated, /) -> Decorated: ...
@overload
def event_stream_view(**options: Any) -> Callable[[Decorated], Decorated]: ...


def event_stream_view(view: View | None = None, /, **options: Any) -> Any:
    """Turn ``view(request, es, *args, **kwargs)`` into a Django view that streams events.

    ``es`` is an ``EventSource`` whose head is already written; ``options`` are its options
    (``ping``, ``retry``, ``headers``: TypeError here for an unknown one). The view may loop on
    ``es.send()`` or hand ``es`` to other threads and return: the request's thread then waits
    until the stream is closed (``es.close()``, or the client leaving). A HEAD request gets the
    head of an empty stream; other methods than GET get 405.
    """
    check_options(EventSource, options)

    def decorate(view: Decorated) -> Decorated:
        @functools.wraps(view)
        def take_over(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "HEAD":
                return HttpResponse(content_type=wire.CONTENT_TYPE)
            if request.method != "GET":
                return HttpResponseNotAllowed(["GET", "HEAD"])
            try:
                serve_event_stream(request.META, lambda es: view(request, es, *args, **kwargs), options)
            except UpgradeNotSupported as error:
                return _plain(STATUS_NOT_IMPLEMENTED, str(error))
            return TakenOverResponse(request.META, STATUS_OK)

        return take_over  # type: ignore[return-value]

    return decorate if view is None else decorate(view)


def _plain(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
