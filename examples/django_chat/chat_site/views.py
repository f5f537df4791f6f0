"""Views of the chat example: the page, and one client's session in a room."""

from chat_rooms import Rooms
from django.http import HttpRequest, HttpResponse

from faye_websocket import WebSocket
from faye_websocket.frameworks.django import websocket_view

from . import EXAMPLES

PAGE = EXAMPLES / "framework_chat.html"
rooms = Rooms()


def page(request: HttpRequest) -> HttpResponse:
    """The chat page."""
    return HttpResponse(PAGE.read_bytes(), content_type="text/html; charset=utf-8")


@websocket_view
def chat(request: HttpRequest, ws: WebSocket, room: str) -> None:
    """One client's session in ``room``, on its request's thread."""
    rooms.chat(room, ws)
