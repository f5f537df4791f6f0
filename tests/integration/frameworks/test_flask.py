"""Flask routes that take the connection over, under gunicorn (gthread, sync), ``flask run``,
werkzeug's ``run_simple`` and wsgiref; every server's whole log is checked when it stops."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.frameworks.cases import FrameworkCases
from tests.integration.frameworks.support import FLASK_SERVERS, Server, flask_server
from tests.integration.server_support import TEXT, RawClient, client_frame


@pytest.fixture(scope="module", params=FLASK_SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with flask_server(request.param) as running:
        yield running


class TestFlask(FrameworkCases):
    TAG = "hooked"  # set by the app's before_request hook

    def test_the_session_set_by_a_plain_view_reaches_the_websocket(self, server: Server) -> None:
        cookie = self.login(server, "ann")
        with RawClient(server.port, path="/private/vault", extra=(("Cookie", cookie),)) as raw:
            assert raw.status == 101, raw.head
            raw.send_frame(TEXT, b"hi")
            assert raw.read_message().payload == b"ann@vault: hi"
            raw.close_handshake()

    def test_a_route_decorator_checks_before_the_takeover(self, server: Server) -> None:
        with RawClient(server.port, path="/guarded/den") as raw:
            assert raw.status == 403, raw.head
        cookie = self.login(server, "bob")
        with RawClient(server.port, path="/guarded/den", extra=(("Cookie", cookie),)) as raw:
            assert raw.status == 101, raw.head
            assert raw.read_message().payload == b"welcome bob to den"
            raw.close_handshake()

    def test_a_plain_request_to_a_websocket_route_gets_400_from_werkzeug(self, server: Server) -> None:
        status, _, _ = server.get("/echo/lobby")
        assert status == 400

    def test_an_ordinary_route_may_serve_a_page_at_a_websocket_url(self, server: Server) -> None:
        assert server.get("/guarded/den")[::2] == (200, b"the page of den")

    def test_a_plain_view_may_take_over_by_hand_and_return_a_response(self, server: Server) -> None:
        """``from_environ`` in an ordinary view, which then returns a string: the server's response
        goes nowhere (nothing follows the close) and its log stays clean (gunicorn used to log
        'Bad file descriptor' with a traceback)."""
        with RawClient(server.port, path="/by-hand/den", trailing=client_frame(TEXT, b"first")) as raw:
            assert raw.status == 101, raw.head
            assert raw.read_message().payload == b"den: first"
            raw.close_handshake()
