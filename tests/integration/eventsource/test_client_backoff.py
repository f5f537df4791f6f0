"""EventSourceClient's reconnection: backoff after failed connections, the server's ``retry:`` as
the floor, and failures visible without a listener (the iteration raises once it gives up)."""

from __future__ import annotations

import logging
import re
from http.server import BaseHTTPRequestHandler

import pytest

from faye_websocket.events import ErrorEvent
from faye_websocket.eventsource.client import EventSourceClient
from faye_websocket.eventsource.writer import EventSource
from tests.integration.components import assert_no_leaks, free_port
from tests.integration.eventsource_support import serving, take

DELAY_LINE = re.compile(r"connection (\d+) failed .*; next in ([0-9.]+) s")


def refused_port() -> int:
    """A port nothing listens on, from the range no port-0 bind in this run can be given."""
    return free_port()


def test_without_a_listener_the_iteration_raises_once_it_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="faye_websocket")
    with assert_no_leaks():
        client = EventSourceClient(f"http://127.0.0.1:{refused_port()}/", retry=0.01, max_attempts=4)
        with pytest.raises(ConnectionRefusedError):
            take(client, 1)
    delays = [(int(n), float(d)) for n, d in DELAY_LINE.findall(caplog.text)]
    assert [n for n, _ in delays] == [1, 2, 3]  # three waits between four attempts, then the raise
    # Doubling from retry (0.01 s), each shortened by at most half (the default jitter).
    for attempt, delay in delays:
        assert 0.01 * 2 ** (attempt - 1) * 0.5 <= delay <= 0.01 * 2 ** (attempt - 1)


def test_every_failed_attempt_is_an_error_event_whose_target_is_the_reader() -> None:
    errors: list[ErrorEvent] = []
    with assert_no_leaks():
        client = EventSourceClient(f"http://127.0.0.1:{refused_port()}/", retry=0.01, max_attempts=3)
        client.onerror = errors.append
        with pytest.raises(ConnectionRefusedError):
            take(client, 1)
    assert len(errors) == 3 and all(event.target is client for event in errors)


def test_the_servers_retry_is_the_floor_of_the_backoff(caplog: pytest.LogCaptureFixture) -> None:
    def once_then_gone(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, retry=0.2, ping=None)
        es.send("only", id=1)
        es.close()

    caplog.set_level(logging.DEBUG, logger="faye_websocket")
    with assert_no_leaks():
        with serving(once_then_gone) as server:
            client = EventSourceClient(server.url(), retry=0.01, max_attempts=2)
            events = iter(client)
            assert next(events).data == "only"
            url = server.url()
        # The server is gone now: the next connections fail and back off from retry: 0.2 s.
        with pytest.raises(ConnectionRefusedError):
            next(events)
    assert client.retry == 0.2
    delays = [float(d) for _, d in DELAY_LINE.findall(caplog.text)]
    assert delays and all(delay >= 0.2 for delay in delays), (url, delays)
