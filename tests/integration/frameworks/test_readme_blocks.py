"""The README's Flask and Django blocks, as written, under the server their comment names
(gunicorn -k gthread), reached the way a reader would: the chat echo with its URL variable, the
members-only WebSocket refused with 403 and then let in with a session, the clock's first event.
Each server's whole log is checked for errors when it stops."""

from __future__ import annotations

from pathlib import Path

from faye_websocket import EventSourceClient, connect
from tests.integration.components import free_port
from tests.integration.examples.test_readme import block
from tests.integration.frameworks.cases import FrameworkCases
from tests.integration.frameworks.support import (
    DJANGO_SITE,
    WAIT,
    Server,
    gunicorn_argv,
    require_module,
    running,
)
from tests.integration.server_support import RawClient

# The test site's login view beside the README's urlpatterns (which come first).
SITE_URLS = """from readme_urls import urlpatterns as readme
from testsite.urls import urlpatterns as site

urlpatterns = readme + site
"""


def use_like_a_reader(server: Server) -> None:
    with connect(server.url("/chat/lobby", "ws"), connect_timeout=WAIT) as ws:
        ws.send("hi")
        assert ws.recv(timeout=WAIT) == "lobby: hi"
    with RawClient(server.port, path="/private/den", protocols="chat") as raw:
        assert raw.status == 403, raw.head
    cookie = FrameworkCases.login(server, "ann")
    with connect(server.url("/private/den", "ws"), ["chat"], headers={"Cookie": cookie},
                 connect_timeout=WAIT) as ws:
        assert ws.protocol == "chat"
        assert ws.recv(timeout=WAIT) == "welcome ann"
        ws.send("yo")
        assert ws.recv(timeout=WAIT) == "ann@den: yo"
    with EventSourceClient(server.url("/clock"), reconnect=False, read_timeout=WAIT) as events:
        first = next(iter(events))
        assert first.data.strip()


def test_the_flask_block_under_gunicorn(tmp_path: Path) -> None:
    require_module("flask")
    (tmp_path / "app.py").write_text(block("flask"), encoding="utf-8")
    port = free_port()
    argv = gunicorn_argv("gthread", port, tmp_path, "app:app")
    with running("readme-flask", argv, port, ready_path="/login/nobody") as server:
        use_like_a_reader(server)


def test_the_django_block_under_gunicorn(tmp_path: Path, django_database: Path) -> None:
    (tmp_path / "readme_urls.py").write_text(block("django"), encoding="utf-8")
    (tmp_path / "readme_site_urls.py").write_text(SITE_URLS, encoding="utf-8")
    port = free_port()
    argv = [*gunicorn_argv("gthread", port, DJANGO_SITE, "testsite.wsgi:application"),
            "--pythonpath", str(tmp_path)]
    env = {"FAYE_DJANGO_DB": str(django_database), "FAYE_DJANGO_URLCONF": "readme_site_urls"}
    with running("readme-django", argv, port, env=env, ready_path="/stats") as server:
        use_like_a_reader(server)
