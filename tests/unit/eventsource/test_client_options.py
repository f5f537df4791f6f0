"""EventSourceClient options checked when it is made, before anything goes on the wire."""

from __future__ import annotations

import pytest

from faye_websocket.eventsource.client import EventSourceClient


@pytest.mark.parametrize("value", ["1\r\nX-Injected: yes", "1\nX", "1\rX", "1\x00"])
def test_last_event_id_with_cr_lf_or_nul_is_refused_like_every_header_value(value: str) -> None:
    with pytest.raises(ValueError):
        EventSourceClient("http://127.0.0.1:9/stream", last_event_id=value)


def test_last_event_id_must_be_text() -> None:
    with pytest.raises(TypeError):
        EventSourceClient("http://127.0.0.1:9/stream", last_event_id=5)  # type: ignore[arg-type]


def test_an_ordinary_last_event_id_is_accepted() -> None:
    client = EventSourceClient("http://127.0.0.1:9/stream", last_event_id="event-42")
    assert client.last_event_id == "event-42"
    client.close()
