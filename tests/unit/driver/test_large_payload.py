"""A large frame's payload received apart from the parser's buffer (driver/payload.py): every way
the bytes may come (split anywhere, read in place with recv_into), masked or not, and every check
the ordinary path makes (UTF-8, max_length before buffering, nothing delivered once closing)."""

from __future__ import annotations

import random

import pytest

from faye_websocket.driver.frames import Frame, Opcode, serialize_frame
from faye_websocket.driver.hybi import Hybi
from faye_websocket.driver.payload import LARGE_PAYLOAD, POOL_MAX_BYTES
from faye_websocket.events import CloseEvent, ErrorEvent, Event, MessageEvent
from tests.unit.driver.drivers import client_frame, open_client, open_server, server_frame

SIZE = 5 * LARGE_PAYLOAD + 3  # not a multiple of the masking key's length


def _feed_in_chunks(driver: Hybi | object, data: bytes, seed: int) -> None:
    chunks = random.Random(seed)
    at = 0
    while at < len(data):
        step = chunks.choice([1, 7, 4096, LARGE_PAYLOAD - 1, LARGE_PAYLOAD * 2])
        driver.receive_data(data[at : at + step])  # type: ignore[attr-defined]
        at += step


def _feed_in_place(driver: Hybi, data: bytes) -> None:
    """As the I/O layer does: ordinary reads until the driver lends its buffer, then recv_into."""
    at = 0
    while at < len(data):
        view = driver.receive_buffer()
        if view is None:
            driver.receive_data(data[at : at + LARGE_PAYLOAD])
            at += LARGE_PAYLOAD
            continue
        count = min(len(view), len(data) - at, 50_000)  # a read may fill part of it
        view[:count] = data[at : at + count]
        view.release()
        driver.received_into(count)
        at += count


def _payload(text: bool) -> bytes:
    if text:  # multi-byte characters across every split
        return ("héllo wörld €𝄞 " * (SIZE // 20))[: SIZE // 2].encode("utf-8")
    return random.Random(1).randbytes(SIZE)


@pytest.mark.parametrize("text", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_a_large_message_split_anywhere_arrives_whole_on_the_server(text: bool, seed: int) -> None:
    payload = _payload(text)
    frame = client_frame(Opcode.TEXT if text else Opcode.BINARY, payload)
    after = client_frame(Opcode.TEXT, b"next")
    server = open_server()
    _feed_in_chunks(server, frame + after, seed)
    expected = payload.decode("utf-8") if text else payload
    assert server.events_received() == [MessageEvent(expected), MessageEvent("next")]


@pytest.mark.parametrize("text", [False, True])
def test_a_large_message_read_in_place_arrives_whole_on_the_client(text: bool) -> None:
    payload = _payload(text)
    client = open_client()
    _feed_in_place(client, server_frame(Opcode.TEXT if text else Opcode.BINARY, payload))
    assert client.events_received() == [MessageEvent(payload.decode("utf-8") if text else payload)]
    assert client.receive_buffer() is None
    assert client.held_bytes == 0


def test_a_large_masked_message_read_in_place_is_unmasked_on_the_server() -> None:
    payload = _payload(False)
    server = open_server()
    _feed_in_place(server.protocol_driver, client_frame(Opcode.BINARY, payload))  # type: ignore[arg-type]
    assert server.events_received() == [MessageEvent(payload)]


def test_a_large_text_message_that_is_not_utf8_fails_with_1007() -> None:
    payload = b"\xff" + b"a" * SIZE
    client = open_client()
    _feed_in_place(client, server_frame(Opcode.TEXT, payload))
    events = client.events_received()
    assert isinstance(events[0], ErrorEvent)
    assert events[-1] == CloseEvent(1007, "Could not decode a text frame as UTF-8", False)


def test_a_frame_over_max_length_is_refused_before_any_payload_is_held() -> None:
    client = open_client(max_length=SIZE - 1)
    client.receive_data(server_frame(Opcode.BINARY, bytes(SIZE))[:LARGE_PAYLOAD])
    assert client.receive_buffer() is None
    assert client.events_received()[-1].code == 1009  # type: ignore[union-attr]


def test_memory_held_follows_what_arrived_not_what_the_frame_declares() -> None:
    client = open_client()
    head = bytes([0x82, 127]) + (60 << 20).to_bytes(8, "big")  # declares 60 MiB
    client.receive_data(head + bytes(LARGE_PAYLOAD))
    # A buffer the size of what came, or one from the pool of reused ones: never the 60 MiB.
    assert client.held_bytes <= max(4 * LARGE_PAYLOAD, POOL_MAX_BYTES)
    assert client.events_received() == []


def test_a_large_message_completed_after_our_close_is_not_delivered() -> None:
    payload = _payload(False)
    frame = server_frame(Opcode.BINARY, payload)
    client = open_client()
    client.receive_data(frame[: 2 * LARGE_PAYLOAD])
    client.close()  # RFC 6455 section 7.1.6: no more messages once our close frame is sent
    client.data_to_send()
    _feed_in_chunks(client, frame[2 * LARGE_PAYLOAD :] + server_frame(Opcode.CLOSE, b"\x03\xe8"), 0)
    events: list[Event] = client.events_received()
    assert [type(event) for event in events] == [CloseEvent]
    assert events[0] == CloseEvent(1000, "", True)


def test_fragments_and_control_frames_around_a_large_message_keep_their_order() -> None:
    payload = _payload(False)
    data = (server_frame(Opcode.TEXT, b"a", fin=False) + server_frame(Opcode.CONTINUATION, b"b")
            + server_frame(Opcode.BINARY, payload) + server_frame(Opcode.PING, b"p")
            + serialize_frame(Frame(True, Opcode.TEXT, b"c"), mask=False))
    client = open_client()
    _feed_in_chunks(client, data, 3)
    events = client.events_received()
    assert [getattr(event, "data", None) for event in events] == ["ab", payload, b"p", "c"]


@pytest.mark.parametrize("size", [2048, 2049, LARGE_PAYLOAD + 1, LARGE_PAYLOAD + 3, 3 * LARGE_PAYLOAD + 5])
def test_a_client_masks_every_large_frame_size_into_its_reused_buffer(size: int) -> None:
    client = open_client()
    payload = random.Random(size).randbytes(size)
    held = []
    for _ in range(2):  # the second frame reuses the buffer while a view of the first is held
        frame = client.frame_to_write(payload)
        assert frame is not None
        held.append(frame)
        server = open_server()
        server.receive_data(bytes(frame))
        assert server.events_received() == [MessageEvent(payload)]
