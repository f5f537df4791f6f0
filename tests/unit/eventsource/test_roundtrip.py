"""Property: whatever our writer frames, the WHATWG parser reads back, however the bytes are split."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from faye_websocket.eventsource import wire
from faye_websocket.eventsource.parser import EventStreamParser, ServerSentEvent

# Field values may hold anything but line breaks; ids not NUL either (the writer refuses them).
field_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12)
event_names = st.one_of(st.none(), field_text)
event_ids = st.one_of(st.none(), field_text.filter(lambda s: "\0" not in s), st.integers(0, 10**6))
messages = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
events = st.lists(st.tuples(messages, event_names, event_ids), max_size=6)


def expected_events(sent: list[tuple[str, str | None, str | int | None]]) -> list[ServerSentEvent]:
    last_id, result = "", []
    for message, name, event_id in sent:
        if event_id is not None:
            last_id = str(event_id)
        # Each line break becomes LF; a leading BOM only matters at the very start of the stream.
        data = re.sub(r"\r\n|\r|\n", "\n", message)
        result.append(ServerSentEvent(name or "message", data, last_id))
    return result


@given(events, st.lists(st.integers(0, 10_000), max_size=5))
def test_writer_output_parses_back_to_the_same_events_at_any_split(
    sent: list[tuple[str, str | None, str | int | None]], cuts: list[int]
) -> None:
    stream = wire.retry_field(1) + b"".join(wire.format_event(m, event=n, id=i) for m, n, i in sent)
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)])]
    parser = EventStreamParser()
    received = [event for piece in pieces for event in parser.feed(piece)]
    assert received == expected_events(sent)
    assert parser.retry == 1000
