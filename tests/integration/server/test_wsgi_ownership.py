"""Who owns the socket after a WSGI takeover under gunicorn: the WebSocket gets a duplicate of
gunicorn's socket, so that gunicorn's own object stays usable (and closable) after the view
returns; a duplicate whose WebSocket could not be built is closed again."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from faye_websocket.server.wsgi import take_over
from tests.leaks import open_fd_count


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    with server, client:
        yield server, client


def test_under_gunicorn_the_taker_gets_a_duplicate_and_gunicorns_socket_stays_open(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    client.sendall(b"already read")
    environ = {"gunicorn.socket": server}
    owned = take_over(environ, lambda sock, body: sock)
    with owned:
        assert owned is not server and owned.fileno() != server.fileno()
    assert server.fileno() >= 0  # closing the duplicate left gunicorn's socket alone
    assert server.recv(64) == b"already read"


def test_a_duplicate_is_closed_again_when_building_on_it_fails(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, _ = pair
    before = open_fd_count()

    def fails(sock: socket.socket, body: bytes) -> socket.socket:
        raise ValueError("bad option")

    with pytest.raises(ValueError, match="bad option"):
        take_over({"gunicorn.socket": server}, fails)
    assert open_fd_count() == before
