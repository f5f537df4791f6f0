"""RFC 6455 section 5: frame encoding, masking, lengths, and the section 5.7 examples."""

from __future__ import annotations

import pytest

from faye_websocket.driver.frames import (
    CloseCode,
    Frame,
    Opcode,
    apply_mask,
    is_valid_wire_close_code,
    parse_close_payload,
    serialize_close_payload,
    serialize_frame,
)
from faye_websocket.errors import InvalidPayload, ProtocolError
from faye_websocket.events import MessageEvent, PingEvent, PongEvent

from .drivers import events_for_every_split, open_client, open_server

MASK = bytes.fromhex("37fa213d")


def test_apply_mask_matches_the_rfc_example() -> None:
    assert apply_mask(b"Hello", MASK) == bytes.fromhex("7f9f4d5158")


def test_apply_mask_is_its_own_inverse_for_every_length() -> None:
    for length in range(0, 70):
        data = bytes(range(length))
        assert apply_mask(apply_mask(data, MASK), MASK) == data


def test_apply_mask_of_a_long_payload_equals_the_bytewise_definition() -> None:
    data = bytes((i * 7) % 256 for i in range(100_003))
    expected = bytes(b ^ MASK[i % 4] for i, b in enumerate(data))
    assert apply_mask(data, MASK) == expected


@pytest.mark.parametrize(
    ("length", "header"),
    [(0, "8200"), (125, "827d"), (126, "827e007e"), (65535, "827effff"), (65536, "827f0000000000010000")],
)
def test_serialize_uses_the_minimal_length_encoding(length: int, header: str) -> None:
    data = serialize_frame(Frame(True, Opcode.BINARY, b"\x00" * length), mask=False)
    assert data[: len(header) // 2] == bytes.fromhex(header)
    assert len(data) == len(header) // 2 + length


def test_client_frames_are_masked_with_a_fresh_key_each_time() -> None:
    frame = Frame(True, Opcode.TEXT, b"Hello")
    first, second = serialize_frame(frame, mask=True), serialize_frame(frame, mask=True)
    assert first[1] == 0x85 and second[1] == 0x85
    assert apply_mask(first[6:], first[2:6]) == b"Hello"
    assert first[2:6] != second[2:6]


def test_rfc_example_single_unmasked_text_frame_reaches_a_client() -> None:
    events = events_for_every_split(open_client, bytes.fromhex("810548656c6c6f"))
    assert events == [MessageEvent("Hello")]


def test_rfc_example_single_masked_text_frame_reaches_a_server() -> None:
    events = events_for_every_split(open_server, bytes.fromhex("818537fa213d7f9f4d5158"))
    assert events == [MessageEvent("Hello")]


def test_rfc_example_fragmented_unmasked_text_message() -> None:
    events = events_for_every_split(open_client, bytes.fromhex("010348656c80026c6f"))
    assert events == [MessageEvent("Hello")]


def test_rfc_example_unmasked_ping_is_answered_with_a_pong() -> None:
    client = open_client()
    client.receive_data(bytes.fromhex("890548656c6c6f"))
    assert client.events_received() == [PingEvent(b"Hello")]
    pong = client.data_to_send()
    assert pong[:2] == bytes.fromhex("8a85") and apply_mask(pong[6:], pong[2:6]) == b"Hello"


def test_rfc_example_masked_pong_reaches_a_server() -> None:
    events = events_for_every_split(open_server, bytes.fromhex("8a8537fa213d7f9f4d5158"))
    assert events == [PongEvent(b"Hello")]


def test_rfc_example_256_byte_binary_message() -> None:
    payload = bytes(range(256))
    events = events_for_every_split(open_client, bytes.fromhex("827e0100") + payload)
    assert events == [MessageEvent(payload)]


def test_rfc_example_64kib_binary_message() -> None:
    payload = bytes(i % 251 for i in range(65536))
    client = open_client()
    data = bytes.fromhex("827f0000000000010000") + payload
    for start in range(0, len(data), 1000):
        client.receive_data(data[start : start + 1000])
    assert client.events_received() == [MessageEvent(payload)]


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                                  3000, 4999])
def test_valid_close_codes(code: int) -> None:
    assert is_valid_wire_close_code(code)
    assert parse_close_payload(serialize_close_payload(code, "ok")) == (code, "ok")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_invalid_close_codes_are_protocol_errors(code: int) -> None:
    assert not is_valid_wire_close_code(code)
    with pytest.raises(ProtocolError) as caught:
        parse_close_payload(code.to_bytes(2, "big"))
    assert caught.value.code == CloseCode.PROTOCOL_ERROR


def test_empty_close_payload_means_no_status_1005() -> None:
    assert parse_close_payload(b"") == (1005, "")


def test_one_byte_close_payload_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_close_payload(b"\x03")


def test_close_reason_that_is_not_utf8_is_invalid_payload_1007() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_close_payload(b"\x03\xe8\xff\xfe")
    assert caught.value.code == 1007
