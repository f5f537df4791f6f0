"""examples/demo_eventsource.py: ``Time: N`` events with id N, continuing from Last-Event-ID, and
the stream ends as soon as the client goes."""

from __future__ import annotations

import importlib.util
import threading
import time
from http.server import BaseHTTPRequestHandler
from types import ModuleType

import pytest

from faye_websocket.eventsource.client import EventSourceClient
from tests.integration.components import assert_no_leaks
from tests.integration.eventsource_support import open_stream, read_until, serving, take
from tests.paths import EXAMPLES

DEMO_PATH = EXAMPLES / "demo_eventsource.py"
FAST = 0.05  # seconds between demo events in tests (the demo's own interval is 1 s)


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_eventsource", DEMO_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class DemoServer:
    """Runs the demo stream on each EventSource request and records when each one returned."""

    def __init__(self, interval: float = FAST) -> None:
        self.demo = load_demo()
        self.interval = interval
        self.returned = threading.Event()

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        self.demo.serve_demo_stream(handler, interval=self.interval)
        self.returned.set()


def test_demo_counts_from_one_for_a_new_client() -> None:
    demo = DemoServer()
    with serving(demo) as server:
        client = EventSourceClient(server.url("/"), reconnect=False)
        events = take(client, 3)
        client.close()
    assert [(e.data, e.last_event_id) for e in events] == [(f"Time: {n}", str(n)) for n in (1, 2, 3)]


def test_demo_continues_from_the_clients_last_event_id() -> None:
    demo = DemoServer()
    with serving(demo) as server:
        client = EventSourceClient(server.url("/"), last_event_id="41", reconnect=False)
        events = take(client, 2)
        client.close()
    assert [e.data for e in events] == ["Time: 42", "Time: 43"]


def test_demo_sends_retry_first_and_stops_when_the_client_goes() -> None:
    demo = DemoServer(interval=1.0)  # the real interval: the client leaves between two events
    with assert_no_leaks(), serving(demo) as server:
        sock = open_stream(server.port, "/")
        assert read_until(sock, b"\r\n\r\nretry: 10000\r\n\r\n")
        sock.close()
        started = time.monotonic()
        assert demo.returned.wait(2.0), "the demo kept streaming to a client that left"
        assert time.monotonic() - started < 1.0  # noticed by EOF, not by the next event


def test_demo_first_number_ignores_ids_that_are_not_numbers() -> None:
    demo = load_demo()
    assert [demo.first_number(i) for i in ("", "7", "x", "-3")] == [1, 8, 1, 1]


@pytest.mark.parametrize("value", ["\xb2", "1" * 5000, "-1", " 7", ""])
def test_demo_first_number_never_raises(value: str) -> None:
    assert load_demo().first_number(value) == 1


def test_demo_first_number_continues_from_a_number() -> None:
    assert load_demo().first_number("41") == 42
