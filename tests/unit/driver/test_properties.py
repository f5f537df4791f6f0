"""Property-based tests: any message, fragmented and split anyhow, round-trips; noise never crashes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faye_websocket.driver.client import ClientDriver
from faye_websocket.driver.frames import (
    MULTIPLY_THRESHOLD,
    TRANSLATE_THRESHOLD,
    Frame,
    Opcode,
    apply_mask,
    mask_buffer,
    mask_words,
    serialize_frame,
)
from faye_websocket.driver.hybi import Hybi
from faye_websocket.driver.server import ServerDriver
from faye_websocket.events import CloseEvent, Event, MessageEvent

from .drivers import open_client, open_server

messages = st.one_of(st.text(max_size=300), st.binary(max_size=300))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fragment(message: str | bytes, cuts: list[int], *, mask: bool) -> bytes:
    """``message`` as frames cut at the byte positions ``cuts``."""
    opcode = Opcode.TEXT if isinstance(message, str) else Opcode.BINARY
    payload = message.encode("utf-8") if isinstance(message, str) else message
    points = sorted({c % (len(payload) + 1) for c in cuts} - {0, len(payload)})
    pieces = [payload[a:b] for a, b in zip([0, *points], [*points, len(payload)])]
    frames = []
    for index, piece in enumerate(pieces):
        frames.append(Frame(index == len(pieces) - 1, opcode if index == 0 else Opcode.CONTINUATION, piece))
    return b"".join(serialize_frame(frame, mask=mask) for frame in frames)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


@SETTINGS
@given(st.lists(messages, max_size=5), st.lists(st.integers(0, 10_000), max_size=6),
       st.lists(st.integers(0, 100_000), max_size=10))
def test_client_messages_round_trip_through_any_fragmentation_and_split(
    batch: list[str | bytes], frag_cuts: list[int], read_cuts: list[int]
) -> None:
    server = open_server()
    data = b"".join(fragment(m, frag_cuts, mask=True) for m in batch)
    for chunk in split(data, read_cuts):
        server.receive_data(chunk)
    assert server.events_received() == [MessageEvent(m) for m in batch]


@SETTINGS
@given(st.lists(messages, max_size=5), st.lists(st.integers(0, 10_000), max_size=6),
       st.lists(st.integers(0, 100_000), max_size=10))
def test_server_messages_round_trip_to_a_client(
    batch: list[str | bytes], frag_cuts: list[int], read_cuts: list[int]
) -> None:
    client = open_client()
    data = b"".join(fragment(m, frag_cuts, mask=False) for m in batch)
    for chunk in split(data, read_cuts):
        client.receive_data(chunk)
    assert client.events_received() == [MessageEvent(m) for m in batch]


@SETTINGS
@given(st.lists(messages, max_size=5))
def test_sent_messages_arrive_unchanged(batch: list[str | bytes]) -> None:
    client, server = open_client(), open_server()
    for message in batch:
        client.send(message)
        server.send(message)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    expected = [MessageEvent(m) for m in batch]
    assert server.events_received() == expected and client.events_received() == expected


def check_clean(events: list[Event]) -> None:
    closes = [e for e in events if isinstance(e, CloseEvent)]
    assert len(closes) <= 1
    if closes:
        assert events[-1] is closes[0]


@SETTINGS
@given(st.binary(max_size=400), st.lists(st.integers(0, 1000), max_size=5))
def test_random_bytes_after_the_handshake_never_raise(noise: bytes, cuts: list[int]) -> None:
    for driver in (open_server(max_length=1000), open_client(max_length=1000)):
        for chunk in split(noise, cuts):
            driver.receive_data(chunk)
        driver.receive_eof()
        events = driver.events_received()
        check_clean(events)
        assert isinstance(events[-1], CloseEvent)


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_as_a_request_or_response_head_never_raise(noise: bytes) -> None:
    server = ServerDriver(None, allow_drafts=True)
    server.receive_data(noise)
    if server.request is not None:
        server.start()
    server.receive_eof()
    check_clean(server.events_received())
    client = ClientDriver("ws://h/")
    client.start()
    client.receive_data(noise)
    client.receive_eof()
    check_clean(client.events_received())


# Masking (RFC 6455 section 5.3) against its definition, byte by byte, on every path that masks or
# unmasks: the sliced key (short payloads), the multiplied key (mask_words) and translate lanes.
mask_keys = st.binary(min_size=4, max_size=4)
payloads = st.integers(0, 3000).flatmap(lambda length: st.binary(min_size=length, max_size=length))


def bytewise_mask(data: bytes, key: bytes) -> bytes:
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(data))


def hand_masked_frame(payload: bytes, key: bytes) -> bytes:
    """A masked binary frame built without the library's masking."""
    length = len(payload)
    if length <= 125:
        head = bytes((0x82, 0x80 | length))
    elif length <= 0xFFFF:
        head = bytes((0x82, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x82, 0x80 | 127)) + length.to_bytes(8, "big")
    return head + key + bytewise_mask(payload, key)


@SETTINGS
@given(payloads, mask_keys)
def test_masking_equals_the_bytewise_xor(payload: bytes, key: bytes) -> None:
    expected = bytewise_mask(payload, key)
    assert apply_mask(payload, key) == expected
    assert bytes(mask_buffer(bytearray(payload), key)) == expected
    assert apply_mask(memoryview(payload), key) == expected
    if MULTIPLY_THRESHOLD <= len(payload) < TRANSLATE_THRESHOLD:
        assert mask_words(payload, key, len(payload)) == expected


@SETTINGS
@given(payloads, mask_keys)
def test_the_server_unmasks_what_the_bytewise_xor_masked(payload: bytes, key: bytes) -> None:
    frame = hand_masked_frame(payload, key)
    server = open_server()
    server.receive_data(frame)  # the parser's first frame: the general path
    assert server.events_received() == [MessageEvent(payload)]
    protocol = server.protocol_driver
    assert isinstance(protocol, Hybi)
    messages = protocol.take_messages(frame)  # at a frame boundary: the one-read lane
    assert [MessageEvent(message) for message in messages or ()] + server.events_received() == [
        MessageEvent(payload)]
    server.receive_data(frame + frame)  # two frames in one read: the common-frame loop
    assert server.events_received() == [MessageEvent(payload), MessageEvent(payload)]


@SETTINGS
@given(payloads)
def test_a_client_frame_unmasks_bytewise_to_its_payload(payload: bytes) -> None:
    frame = open_client().frame_message(payload)  # a ClientDriver is its Hybi
    assert frame is not None
    frame = bytes(frame)
    length = frame[1] & 0x7F
    start = 2 + (2 if length == 126 else 8 if length == 127 else 0)
    key = frame[start : start + 4]
    assert bytewise_mask(frame[start + 4 :], key) == payload
