"""RFC 6455 rules after the handshake: fragmentation, UTF-8, limits, masking, control frames, closing."""

from __future__ import annotations

import pytest

from faye_websocket.driver.frames import Opcode, apply_mask, serialize_close_payload
from faye_websocket.events import CloseEvent, ErrorEvent, MessageEvent, PingEvent, ReadyState

from .drivers import (
    client_frame,
    events_for_every_split,
    open_client,
    open_server,
    server_frame,
)


def close_code_of(data: bytes, masked: bool = False) -> int:
    """The status code of the close frame at the start of ``data``."""
    assert data[0] == 0x88
    payload = apply_mask(data[6:], data[2:6]) if masked else data[2:]
    return int.from_bytes(payload[:2], "big")


def assert_failed(events: list[object], code: int) -> None:
    assert len(events) == 2, events
    assert isinstance(events[0], ErrorEvent)
    assert isinstance(events[1], CloseEvent) and events[1].code == code and not events[1].was_clean


def test_unmasked_client_frame_fails_the_connection_with_1002() -> None:
    server = open_server()
    server.receive_data(server_frame(Opcode.TEXT, b"hi"))
    assert_failed(server.events_received(), 1002)
    assert close_code_of(server.data_to_send()) == 1002
    assert server.close_expected() and server.state is ReadyState.CLOSED


def test_masked_server_frame_fails_the_client_with_1002() -> None:
    client = open_client()
    client.receive_data(client_frame(Opcode.TEXT, b"hi"))
    assert_failed(client.events_received(), 1002)
    assert close_code_of(client.data_to_send(), masked=True) == 1002


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_fail_with_1002_naming_the_opcode(opcode: int) -> None:
    server = open_server()
    server.receive_data(bytes([0x80 | opcode, 0x80]) + b"\x00\x00\x00\x00")
    events = server.events_received()
    assert_failed(events, 1002)
    assert f"Unrecognized frame opcode: {opcode}" in events[0].message  # type: ignore[union-attr]


@pytest.mark.parametrize("bit", [0x40, 0x20, 0x10])
def test_reserved_bits_without_an_extension_fail_with_1002(bit: int) -> None:
    server = open_server()
    server.receive_data(bytes([0x81 | bit, 0x80]) + b"\x00\x00\x00\x00")
    assert_failed(server.events_received(), 1002)


def test_fragmented_control_frame_fails_with_1002() -> None:
    server = open_server()
    server.receive_data(client_frame(Opcode.PING, b"x", fin=False))
    assert_failed(server.events_received(), 1002)


def test_control_frame_over_125_bytes_fails_with_1002() -> None:
    server = open_server()
    server.receive_data(client_frame(Opcode.PING, b"x" * 126))
    assert_failed(server.events_received(), 1002)


def test_continuation_without_a_message_fails_with_1002() -> None:
    server = open_server()
    server.receive_data(client_frame(Opcode.CONTINUATION, b"x"))
    assert_failed(server.events_received(), 1002)


def test_new_message_inside_a_fragmented_one_fails_with_1002() -> None:
    server = open_server()
    server.receive_data(client_frame(Opcode.TEXT, b"a", fin=False) + client_frame(Opcode.TEXT, b"b"))
    assert_failed(server.events_received(), 1002)


def test_control_frames_may_interleave_with_fragments() -> None:
    data = (client_frame(Opcode.TEXT, b"Hel", fin=False) + client_frame(Opcode.PING, b"p")
            + client_frame(Opcode.CONTINUATION, b"lo"))
    events = events_for_every_split(open_server, data)
    assert events == [PingEvent(b"p"), MessageEvent("Hello")]


def test_declared_length_over_max_length_fails_with_1009_before_the_payload_arrives() -> None:
    server = open_server(max_length=1000)
    server.receive_data(bytes([0x82, 0xFF]) + (2**40).to_bytes(8, "big"))
    assert_failed(server.events_received(), 1009)
    assert close_code_of(server.data_to_send()) == 1009


def test_fragments_adding_up_past_max_length_fail_with_1009() -> None:
    server = open_server(max_length=10)
    server.receive_data(client_frame(Opcode.BINARY, b"x" * 6, fin=False))
    assert server.events_received() == []
    server.receive_data(client_frame(Opcode.CONTINUATION, b"x" * 6))
    assert_failed(server.events_received(), 1009)


def test_a_message_of_exactly_max_length_is_accepted() -> None:
    server = open_server(max_length=10)
    server.receive_data(client_frame(Opcode.BINARY, b"x" * 10))
    assert server.events_received() == [MessageEvent(b"x" * 10)]


def test_64_bit_length_with_the_top_bit_set_fails_with_1002() -> None:
    server = open_server()
    server.receive_data(bytes([0x82, 0xFF]) + (2**63).to_bytes(8, "big"))
    assert_failed(server.events_received(), 1002)


def test_invalid_utf8_text_fails_with_1007() -> None:
    server = open_server()
    surrogate = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"  # Autobahn 6.3.1
    server.receive_data(client_frame(Opcode.TEXT, surrogate))
    assert_failed(server.events_received(), 1007)


def test_invalid_utf8_fails_fast_on_the_first_bad_fragment() -> None:
    server = open_server()
    server.receive_data(client_frame(Opcode.TEXT, b"ok\xff", fin=False))
    assert_failed(server.events_received(), 1007)


def test_utf8_character_split_across_fragments_is_accepted() -> None:
    snowman = "\u2603".encode()
    data = client_frame(Opcode.TEXT, snowman[:1], fin=False) + client_frame(Opcode.CONTINUATION, snowman[1:])
    assert events_for_every_split(open_server, data) == [MessageEvent("\u2603")]


def test_truncated_utf8_at_the_end_of_a_message_fails_with_1007() -> None:
    server = open_server()
    server.receive_data(client_frame(Opcode.TEXT, "\u2603".encode()[:2]))
    assert_failed(server.events_received(), 1007)


def test_several_frames_in_one_read_give_several_messages() -> None:
    data = b"".join(client_frame(Opcode.TEXT, f"m{i}".encode()) for i in range(5))
    assert events_for_every_split(open_server, data) == [MessageEvent(f"m{i}") for i in range(5)]


def test_empty_text_and_binary_messages() -> None:
    data = client_frame(Opcode.TEXT, b"") + client_frame(Opcode.BINARY, b"")
    assert events_for_every_split(open_server, data) == [MessageEvent(""), MessageEvent(b"")]


def test_peer_close_is_echoed_and_reported_once() -> None:
    server = open_server()
    server.receive_data(client_frame(Opcode.CLOSE, serialize_close_payload(1001, "going")))
    assert server.events_received() == [CloseEvent(1001, "going", True)]
    assert server.data_to_send() == b"\x88\x07\x03\xe9going"
    assert server.close_expected()
    server.receive_eof()
    server.receive_data(client_frame(Opcode.TEXT, b"late"))
    assert server.events_received() == []


def test_empty_close_is_echoed_empty_and_reported_as_1005() -> None:
    server = open_server()
    server.receive_data(client_frame(Opcode.CLOSE, b""))
    assert server.events_received() == [CloseEvent(1005, "", True)]
    assert server.data_to_send() == b"\x88\x00"


def test_close_with_an_invalid_code_fails_with_1002() -> None:
    server = open_server()
    server.receive_data(client_frame(Opcode.CLOSE, (1005).to_bytes(2, "big")))
    assert_failed(server.events_received(), 1002)


def test_local_close_waits_for_the_peer_and_drops_data_meanwhile() -> None:
    server = open_server()
    assert server.close(4000, "done")
    assert server.state is ReadyState.CLOSING
    assert server.data_to_send() == b"\x88\x06\x0f\xa0done"
    assert not server.close()
    assert not server.send("too late")
    server.receive_data(client_frame(Opcode.TEXT, b"in flight") + client_frame(Opcode.PING, b"p"))
    assert server.events_received() == [PingEvent(b"p")]
    assert server.data_to_send() == server_frame(Opcode.PONG, b"p")  # RFC 6455 section 5.5.2
    server.receive_data(client_frame(Opcode.CLOSE, serialize_close_payload(4000, "done")))
    assert server.events_received() == [CloseEvent(4000, "done", True)]
    assert server.data_to_send() == b""
    assert server.close_expected()


def test_close_validates_its_code_and_reason_length() -> None:
    server = open_server()
    with pytest.raises(ValueError):
        server.close(1005)
    with pytest.raises(ValueError):
        server.close(1000, "x" * 124)
    assert server.close(1000, "x" * 123)


def test_eof_before_the_closing_handshake_reports_1006() -> None:
    server = open_server()
    server.receive_data(client_frame(Opcode.TEXT, b"half")[:4])
    server.receive_eof()
    assert server.events_received() == [CloseEvent(1006, "", False)]
    server.receive_eof()
    assert server.events_received() == []


def test_abort_reports_its_code_once() -> None:
    server = open_server()
    server.abort()
    server.abort(1011)
    server.receive_eof()
    assert server.events_received() == [CloseEvent(1006, "", False)]


def test_send_refuses_other_types() -> None:
    server = open_server()
    with pytest.raises(TypeError):
        server.send(123)  # type: ignore[arg-type]
    assert server.send(bytearray(b"ab"))
    assert server.data_to_send() == b"\x82\x02ab"


def test_ping_payload_over_125_bytes_is_a_value_error() -> None:
    server = open_server()
    with pytest.raises(ValueError):
        server.ping(b"x" * 126)
    assert server.ping("héllo")
    assert server.data_to_send() == b"\x89\x06h\xc3\xa9llo"


def test_pong_is_sent_after_our_close_until_the_peer_closes() -> None:
    # RFC 6455 section 5.5.2: a ping is answered "unless it already received a Close frame".
    server = open_server()
    server.close()
    server.data_to_send()
    server.receive_data(client_frame(Opcode.PING, b"x"))
    assert server.data_to_send() == server_frame(Opcode.PONG, b"x")


def test_a_ping_received_after_our_close_frame_is_still_answered() -> None:
    # RFC 6455 section 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
    # in response, unless it already received a Close frame." Only a received close ends that
    # duty; the original (websocket-driver) answers in CLOSING too.
    server = open_server()
    server.close(1000, "bye")
    server.data_to_send()
    server.receive_data(client_frame(Opcode.PING, b"still there?"))
    assert server.events_received() == [PingEvent(b"still there?")]
    assert server.data_to_send() == server_frame(Opcode.PONG, b"still there?")
    server.receive_data(client_frame(Opcode.CLOSE, serialize_close_payload(1000, "bye")))
    assert server.events_received() == [CloseEvent(1000, "bye", True)]
    assert server.data_to_send() == b""


def test_exactly_one_close_event_after_a_failure_then_eof() -> None:
    server = open_server()
    server.receive_data(server_frame(Opcode.TEXT, b"unmasked"))
    server.receive_eof()
    events = server.events_received()
    assert [type(e) for e in events] == [ErrorEvent, CloseEvent]
