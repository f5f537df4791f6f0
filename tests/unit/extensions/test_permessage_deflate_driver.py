"""permessage-deflate through the real drivers: RFC 7692 frames, every split, failures and codes."""

from __future__ import annotations

import zlib

import pytest

from faye_websocket.driver.client import ClientDriver
from faye_websocket.driver.frames import Opcode
from faye_websocket.driver.http import parse_request
from faye_websocket.driver.server import ServerDriver
from faye_websocket.events import CloseEvent, ErrorEvent, MessageEvent
from faye_websocket.extensions import PermessageDeflate
from tests.unit.driver.drivers import (
    client_frame,
    events_for_every_split,
    request_bytes,
    response_for,
    server_frame,
)

OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"


def deflating_server(offer: str = OFFER, **options: object) -> ServerDriver:
    """A server driver with permessage-deflate that has answered ``offer``; queues drained."""
    head = request_bytes(offer).split(b"\r\n\r\n")[0]
    driver = ServerDriver(parse_request(head), extensions=[PermessageDeflate()], **options)  # type: ignore[arg-type]
    driver.start()
    driver.events_received()
    driver.data_to_send()
    return driver


def close_of(events: list[object]) -> CloseEvent:
    closes = [event for event in events if isinstance(event, CloseEvent)]
    assert len(closes) == 1, events
    return closes[0]


def test_server_answers_the_default_offer_with_a_bare_permessage_deflate() -> None:
    head = request_bytes(OFFER).split(b"\r\n\r\n")[0]
    driver = ServerDriver(parse_request(head), extensions=[PermessageDeflate()])
    driver.start()
    response = driver.data_to_send()
    assert response.startswith(b"HTTP/1.1 101 ")
    assert b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n" in response


def test_server_without_an_offer_answers_no_extension_and_refuses_rsv1() -> None:
    head = request_bytes().split(b"\r\n\r\n")[0]
    driver = ServerDriver(parse_request(head), extensions=[PermessageDeflate()])
    driver.start()
    assert b"Sec-WebSocket-Extensions" not in driver.data_to_send()
    driver.receive_data(client_frame(Opcode.TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True))
    assert close_of(driver.events_received()).code == 1002


def test_malformed_offer_is_answered_with_400() -> None:
    head = request_bytes("Sec-WebSocket-Extensions: permessage-deflate; =").split(b"\r\n\r\n")[0]
    driver = ServerDriver(parse_request(head), extensions=[PermessageDeflate()])
    driver.start()
    assert driver.data_to_send().startswith(b"HTTP/1.1 400 ")


def test_rfc_7692_fragmented_hello_is_inflated_at_every_split() -> None:
    # RFC 7692 section 7.2.3.1: "Hello" compressed and sent in two fragments, RSV1 on the first
    data = client_frame(Opcode.TEXT, bytes.fromhex("f248cd"), fin=False, rsv1=True)
    data += client_frame(Opcode.CONTINUATION, bytes.fromhex("c9c90700"))
    assert events_for_every_split(deflating_server, data) == [MessageEvent("Hello")]


def test_rfc_7692_shared_window_messages_are_inflated_at_every_split() -> None:
    data = client_frame(Opcode.TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True)
    data += client_frame(Opcode.TEXT, bytes.fromhex("f200110000"), rsv1=True)
    data += client_frame(Opcode.BINARY, b"raw")  # uncompressed messages mix freely
    expected = [MessageEvent("Hello"), MessageEvent("Hello"), MessageEvent(b"raw")]
    assert events_for_every_split(deflating_server, data) == expected


def test_server_sends_the_rfc_7692_bytes_for_hello_twice() -> None:
    driver = deflating_server()
    assert driver.text("Hello")
    assert driver.data_to_send() == bytes.fromhex("c107f248cdc9c90700")  # section 7.2.3.1
    assert driver.text("Hello")
    assert driver.data_to_send() == bytes.fromhex("c105f200110000")  # section 7.2.3.2


def test_control_frames_are_never_compressed() -> None:
    driver = deflating_server()
    assert driver.ping(b"ping")
    assert driver.data_to_send() == bytes.fromhex("8904") + b"ping"
    driver.receive_data(client_frame(Opcode.PING, b"x"))
    driver.events_received()
    assert driver.data_to_send() == bytes.fromhex("8a01") + b"x"


def test_rsv1_on_a_continuation_frame_fails_with_1002() -> None:
    driver = deflating_server()
    driver.receive_data(client_frame(Opcode.TEXT, bytes.fromhex("f248cd"), fin=False, rsv1=True))
    driver.receive_data(client_frame(Opcode.CONTINUATION, bytes.fromhex("c9c90700"), rsv1=True))
    assert close_of(driver.events_received()).code == 1002


def test_rsv1_on_a_control_frame_fails_with_1002() -> None:
    driver = deflating_server()
    driver.receive_data(client_frame(Opcode.PING, b"x", rsv1=True))
    assert close_of(driver.events_received()).code == 1002


def test_a_zip_bomb_fails_the_connection_with_1009() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = (compressor.compress(bytes(10**6)) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    driver = deflating_server(max_length=10_000)
    assert len(bomb) < 10_000  # the frame itself is well under max_length
    driver.receive_data(client_frame(Opcode.BINARY, bomb, rsv1=True))
    events = driver.events_received()
    assert not any(isinstance(event, MessageEvent) for event in events)
    assert close_of(events).code == 1009
    sent = driver.data_to_send()
    assert sent[0] == 0x88 and sent[2:4] == (1009).to_bytes(2, "big")  # our close frame says 1009


def test_corrupt_compressed_data_fails_with_1002() -> None:
    driver = deflating_server()
    driver.receive_data(client_frame(Opcode.BINARY, b"\xff\xff\xff\xff", rsv1=True))
    events = driver.events_received()
    assert any(isinstance(event, ErrorEvent) for event in events)
    assert close_of(events).code == 1002


def test_inflated_text_that_is_not_utf8_fails_with_1007() -> None:
    compressor = zlib.compressobj(wbits=-15)
    payload = (compressor.compress(b"\xff\xfe") + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    driver = deflating_server()
    driver.receive_data(client_frame(Opcode.TEXT, payload, rsv1=True))
    assert close_of(driver.events_received()).code == 1007


# -- client ------------------------------------------------------------------------------------


def deflating_client(**options: object) -> ClientDriver:
    driver = ClientDriver("ws://example.com/", extensions=[PermessageDeflate(**options)])  # type: ignore[arg-type]
    driver.start()
    return driver


def test_client_offers_exactly_the_default_and_inflates_the_servers_messages() -> None:
    driver = deflating_client()
    head = driver.data_to_send()
    assert b"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" in head
    driver.receive_data(response_for(driver, "Sec-WebSocket-Extensions: permessage-deflate"))
    driver.receive_data(server_frame(Opcode.TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True))
    assert driver.events_received()[-1] == MessageEvent("Hello")
    assert driver.text("Hello")
    frame = driver.data_to_send()
    assert frame[0] == 0xC1  # FIN, RSV1, text
    assert frame[1] & 0x80  # masked


@pytest.mark.parametrize(
    "answer",
    [
        "permessage-deflate; client_max_window_bits",  # must carry a value
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; bogus",
        "permessage-deflate, permessage-deflate",
        "x-unknown",
        "permessage-deflate; =",
    ],
)
def test_client_fails_the_handshake_with_1010_on_an_unacceptable_answer(answer: str) -> None:
    driver = deflating_client()
    driver.data_to_send()
    driver.receive_data(response_for(driver, f"Sec-WebSocket-Extensions: {answer}"))
    events = driver.events_received()
    assert any(isinstance(event, ErrorEvent) for event in events)
    assert close_of(events).code == 1010
    assert driver.handshake_error is not None


def test_client_requiring_server_no_context_takeover_refuses_an_answer_without_it() -> None:
    driver = deflating_client(request_no_context_takeover=True)
    driver.data_to_send()
    driver.receive_data(response_for(driver, "Sec-WebSocket-Extensions: permessage-deflate"))
    assert close_of(driver.events_received()).code == 1010


def test_a_message_after_a_bfinal_block_may_refer_back_into_the_shared_window() -> None:
    """RFC 7692 section 7.2.3.4: a peer may end a message with BFINAL=1 instead of an empty stored
    block. Under context takeover the LZ77 window still spans the earlier messages, so the next
    message may copy from them even though the first zlib stream has ended."""
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = first.compress(b"Hello, shared window!") + first.flush(zlib.Z_FINISH)  # BFINAL
    second = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=b"Hello, shared window!")
    two = second.compress(b"Hello, shared window!") + second.flush(zlib.Z_SYNC_FLUSH)
    assert two.endswith(b"\x00\x00\xff\xff") and len(two) - 4 < 10  # a back-reference, not literals
    server = deflating_server()
    frames = client_frame(Opcode.TEXT, one, rsv1=True) + client_frame(Opcode.TEXT, two[:-4], rsv1=True)
    server.receive_data(frames)
    assert server.events_received() == [MessageEvent("Hello, shared window!")] * 2
