"""Views of the framework tests' site.

``/login/<name>`` logs a user in (created on first use) and puts a greeting in the session;
WebSockets at ``/echo/<room>`` (replies ``room|middleware tag|text``), ``/private/<room>`` (a
logged-in user, checked by a decorator above the takeover; replies with the user's name and the
session's greeting), ``/closing/<room>`` (the server closes after the first message),
``/trusted`` (only for pages from ``TRUSTED_ORIGIN``); the event stream ``/events/<int:count>``;
``/stats`` (how many streams and sockets have ended, as JSON).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from ended import counter, counts

from faye_websocket import EventSource, WebSocket
from faye_websocket.frameworks.django import event_stream_view, websocket_view

TRUSTED_ORIGIN = "https://trusted.example"


class TagMiddleware:
    """A middleware of our own: tags the request before the view, and every response after."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tag = "tagged"  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Tag"] = "seen"
        return response


def user_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """403 before the view runs when nobody is logged in.

    Answered rather than raised: Django logs a raised PermissionDenied with its traceback, and
    the tests want a log without tracebacks.
    """

    @functools.wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return HttpResponseForbidden("log in first")
        return view(request, *args, **kwargs)

    return checked


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("django ok")


def login_as(request: HttpRequest, name: str) -> HttpResponse:
    user, _ = User.objects.get_or_create(username=name)
    login(request, user)
    request.session["greeting"] = f"hello {name}"
    return HttpResponse("logged in")


def stats(request: HttpRequest) -> HttpResponse:
    return JsonResponse(counts())


@websocket_view
def echo(request: HttpRequest, ws: WebSocket, room: str) -> None:
    ws.on("close", counter("sockets"))
    for message in ws:
        ws.send(f"{room}|{request.tag}|{message}" if isinstance(message, str) else message)  # type: ignore[attr-defined]


@user_required
@websocket_view(protocols=["chat", "superchat"])
def private(request: HttpRequest, ws: WebSocket, room: str) -> None:
    ws.on("close", counter("sockets"))
    greeting = request.session["greeting"]
    ws.on("message", lambda event: ws.send(f"{request.user.username}@{room}: {event.data} ({greeting})"))


@websocket_view(origin=[TRUSTED_ORIGIN])
def trusted(request: HttpRequest, ws: WebSocket) -> None:
    ws.on("close", counter("sockets"))
    ws.send("trusted")


@websocket_view
def closing(request: HttpRequest, ws: WebSocket, room: str) -> None:
    ws.on("close", counter("sockets"))
    ws.recv(timeout=10)
    ws.close(1000, f"closed {room}")


@event_stream_view(retry=2, ping=1)
def events(request: HttpRequest, es: EventSource, count: int) -> None:
    es.on("close", counter("streams"))
    for n in range(count):
        es.send(f"{request.tag} {n}", id=n)  # type: ignore[attr-defined]
    # returning leaves the stream open until the client goes
