"""Django views that take the connection over, under gunicorn (gthread, sync) and
``manage.py runserver``, with the usual middleware (sessions, auth, CSRF, clickjacking) and one
of the site's own; every server's whole log is checked when it stops."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.frameworks.cases import FrameworkCases
from tests.integration.frameworks.support import DJANGO_SERVERS, Server, django_server
from tests.integration.server_support import TEXT, RawClient


@pytest.fixture(scope="module", params=DJANGO_SERVERS)
def server(request: pytest.FixtureRequest, django_database: Path) -> Iterator[Server]:
    with django_server(request.param, django_database) as running:
        yield running


class TestDjango(FrameworkCases):
    TAG = "tagged"  # set by the site's own middleware

    def test_request_user_and_session_reach_the_websocket(self, server: Server) -> None:
        cookie = self.login(server, "ann")
        with RawClient(server.port, path="/private/vault", protocols="superchat",
                       extra=(("Cookie", cookie),)) as raw:
            assert raw.status == 101, raw.head
            assert raw.header("Sec-WebSocket-Protocol") == "superchat"
            raw.send_frame(TEXT, b"hi")
            assert raw.read_message().payload == b"ann@vault: hi (hello ann)"
            raw.close_handshake()

    def test_a_plain_request_to_a_websocket_view_gets_426(self, server: Server) -> None:
        status, headers, body = server.get("/echo/lobby")
        assert status == 426
        assert b"WebSocket" in body
        assert headers.get("x-tag") == "seen"  # the middleware saw the response

    def test_an_origin_check_refuses_other_sites_pages_with_403(self, server: Server) -> None:
        with RawClient(server.port, path="/trusted", extra=(("Origin", "https://evil.example"),)) as raw:
            assert raw.status == 403, raw.head
        with RawClient(server.port, path="/trusted", extra=(("Origin", "https://trusted.example"),)) as raw:
            assert raw.status == 101, raw.head
            assert raw.read_message().payload == b"trusted"
            raw.close_handshake()
