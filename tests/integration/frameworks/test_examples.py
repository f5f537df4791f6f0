"""The chat examples keep their contract under a production server and their dev server:
``/`` serves the page; every text message sent to ``/chat/<room>`` reaches every client in that
room, the sender included, unchanged, and no client of another room."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import pytest

from faye_websocket import Client, connect
from tests.integration.components import free_port
from tests.integration.frameworks.support import (
    WAIT,
    Server,
    flask_argv,
    gunicorn_argv,
    require_module,
    running,
)
from tests.paths import EXAMPLES

CHATS = ["flask_gunicorn", "flask_dev", "django_gunicorn", "django_runserver"]


@contextlib.contextmanager
def chat_server(kind: str) -> Iterator[Server]:
    framework = kind.split("_", 1)[0]
    require_module(framework)
    port = free_port()
    if kind == "flask_gunicorn":
        argv = flask_argv("gunicorn_gthread", port, EXAMPLES, "flask_chat")
    elif kind == "flask_dev":
        argv = [sys.executable, str(EXAMPLES / "flask_chat.py"), str(port)]
    elif kind == "django_gunicorn":
        argv = gunicorn_argv("gthread", port, EXAMPLES / "django_chat", "chat_site.wsgi")
    else:
        argv = [sys.executable, str(EXAMPLES / "django_chat" / "manage.py"), "runserver", "--noreload",
                f"127.0.0.1:{port}"]
    with running(f"chat-{kind}", argv, port) as server:
        yield server


@pytest.fixture(scope="module", params=CHATS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with chat_server(request.param) as running_server:
        yield running_server


def test_the_page_is_served_at_the_root(server: Server) -> None:
    status, headers, body = server.get("/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"/chat/" in body


@contextlib.contextmanager
def member(server: Server, room: str, others: tuple[Client, ...] = ()) -> Iterator[Client]:
    """A client in ``room``, once its own first message has come back to it (and to ``others``,
    the room's members so far): the view has joined the room by then."""
    with connect(server.url(f"/chat/{room}", "ws"), connect_timeout=WAIT) as client:
        greeting = f"{len(others) + 1} in {room}"
        client.send(greeting)
        assert [peer.recv(timeout=WAIT) for peer in (*others, client)] == [greeting] * (len(others) + 1)
        yield client


def test_a_message_reaches_everyone_in_its_room_and_nobody_else(server: Server) -> None:
    with (
        member(server, "lobby") as first,
        member(server, "lobby", (first,)) as second,
        member(server, "attic") as elsewhere,
    ):
        first.send("héllo, ✓ lobby")
        assert first.recv(timeout=WAIT) == "héllo, ✓ lobby"
        assert second.recv(timeout=WAIT) == "héllo, ✓ lobby"
        elsewhere.send("attic only")
        assert elsewhere.recv(timeout=WAIT) == "attic only"  # nothing from the lobby came first


def test_a_client_that_leaves_is_no_longer_sent_to(server: Server) -> None:
    with member(server, "hall") as staying:
        with member(server, "hall", (staying,)):
            pass
        staying.send("still here")
        assert staying.recv(timeout=WAIT) == "still here"
