"""The driver's one-call lanes give what the general calls give: ``take_messages`` (a read of one
whole frame, taken without the parser's buffer) against ``receive_data``, and ``frame_message``
(a message through the extensions) against ``send`` + ``data_to_send``. Every check a frame
must pass (masking, RSV bits, opcode, FIN, max_length, UTF-8, the extension's inflation) ends
the connection with the same events and close frame on either lane."""

from __future__ import annotations

from typing import Callable, Sequence

import pytest

from faye_websocket.driver.frames import LENGTH_16_MARKER, MASK_BIT, Frame, Opcode, serialize_frame
from faye_websocket.driver.hybi import Hybi
from faye_websocket.driver.server import ServerDriver
from faye_websocket.events import ErrorEvent, Event, MessageEvent
from faye_websocket.extensions.base import Message, Params
from faye_websocket.extensions.permessage_deflate import PermessageDeflate, deflate_message, new_compressor

from .drivers import client_frame, open_client, open_server, server_frame

DEFLATE_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover"


def _compressed(text: bytes) -> bytes:
    return deflate_message(new_compressor(-1, 8, 0, 15), text)


def _masked(first: int, length_field: bytes, payload: bytes) -> bytes:
    """A masked frame with the length encoded as given (a non-minimal encoding, say)."""
    key = b"\x01\x02\x03\x04"
    body = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return bytes((first,)) + bytes((length_field[0] | MASK_BIT,)) + length_field[1:] + key + body


PLAIN_FRAMES = {
    "text 16 B": client_frame(Opcode.TEXT, b"x" * 16),
    "empty text": client_frame(Opcode.TEXT, b""),
    "binary 125 B": client_frame(Opcode.BINARY, bytes(range(125))),
    "text 126 B (16-bit length)": client_frame(Opcode.TEXT, b"y" * 126),
    "binary 1 KiB": client_frame(Opcode.BINARY, b"\xfe" * 1024),
    "text 2047 B": client_frame(Opcode.TEXT, b"z" * 2047),
    "text 2048 B": client_frame(Opcode.TEXT, b"z" * 2048),
    "text 20 B over max_length": client_frame(Opcode.TEXT, b"w" * 20),
    "text 200 B over max_length": client_frame(Opcode.TEXT, b"w" * 200),
    "invalid UTF-8, short": client_frame(Opcode.TEXT, b"ab\xff"),
    "invalid UTF-8, 16-bit length": client_frame(Opcode.TEXT, b"a" * 300 + b"\xc3"),
    "unmasked text": server_frame(Opcode.TEXT, b"hello"),
    "RSV1 without an extension": client_frame(Opcode.TEXT, b"hello", rsv1=True),
    "RSV2": serialize_frame(Frame(True, Opcode.TEXT, b"hello", rsv2=True), mask=True),
    "first fragment": client_frame(Opcode.TEXT, b"hel", fin=False),
    "continuation without a start": client_frame(Opcode.CONTINUATION, b"lo"),
    "ping": client_frame(Opcode.PING, b"p"),
    "close": client_frame(Opcode.CLOSE, b"\x03\xe8bye"),
    "unknown opcode": bytes((0x83, MASK_BIT | 1)) + b"\x00\x00\x00\x00?",  # opcode 3 is reserved
    "16-bit length for 5 bytes (non-minimal)": _masked(0x81, bytes((LENGTH_16_MARKER, 0, 5)), b"hello"),
    "64-bit length for 5 bytes": _masked(0x81, bytes((127,)) + (5).to_bytes(8, "big"), b"hello"),
    "header only": client_frame(Opcode.TEXT, b"x" * 16)[:2],
    "two frames": client_frame(Opcode.TEXT, b"a") + client_frame(Opcode.BINARY, b"b"),
    "a frame and a half": client_frame(Opcode.TEXT, b"a") + client_frame(Opcode.BINARY, b"bb")[:3],
}

# take_messages' lane for a read that is one whole close frame (Hybi._take_close), and the reads
# that look like one but must take the parser's path: every check of RFC 6455 sections 5.1, 5.5
# and 7.4 ends the connection as parse_frame's does.
CLOSE_FRAMES = {
    "close 1000 with a reason": client_frame(Opcode.CLOSE, b"\x03\xe8bye"),
    "close 4000": client_frame(Opcode.CLOSE, (4000).to_bytes(2, "big")),
    "close without a code": client_frame(Opcode.CLOSE, b""),
    "close with a 123 B UTF-8 reason": client_frame(Opcode.CLOSE, b"\x03\xe9" + "\u00e9x".encode() * 41),
    "close with a 1-byte payload": client_frame(Opcode.CLOSE, b"\x03"),
    "close 1005 on the wire": client_frame(Opcode.CLOSE, (1005).to_bytes(2, "big")),
    "close 999": client_frame(Opcode.CLOSE, (999).to_bytes(2, "big")),
    "close 2999": client_frame(Opcode.CLOSE, (2999).to_bytes(2, "big")),
    "close reason not UTF-8": client_frame(Opcode.CLOSE, b"\x03\xe8ab\xff"),
    "close reason a lone surrogate": client_frame(Opcode.CLOSE, b"\x03\xe8\xed\xa0\x80"),
    "close 126 B (16-bit length)": client_frame(Opcode.CLOSE, b"\x03\xe8" + b"r" * 124),
    "unmasked close": server_frame(Opcode.CLOSE, b"\x03\xe8"),
    "fragmented close": client_frame(Opcode.CLOSE, b"\x03\xe8", fin=False),
    "close with RSV1": client_frame(Opcode.CLOSE, b"\x03\xe8", rsv1=True),
    "close header only": client_frame(Opcode.CLOSE, b"\x03\xe8")[:2],
    "close and a byte more": client_frame(Opcode.CLOSE, b"\x03\xe8") + b"\x81",
    "close then a message": client_frame(Opcode.CLOSE, b"\x03\xe8") + client_frame(Opcode.TEXT, b"late"),
    "a message then close": client_frame(Opcode.TEXT, b"last") + client_frame(Opcode.CLOSE, b"\x03\xe8"),
    "one byte": b"\x88",
}

DEFLATE_FRAMES = {
    "compressed text": client_frame(Opcode.TEXT, _compressed(b'{"a": 1}' * 40), rsv1=True),
    "compressed binary": client_frame(Opcode.BINARY, _compressed(b"\x00" * 3000), rsv1=True),
    "uncompressed text": client_frame(Opcode.TEXT, b"plain"),
    "compressed invalid UTF-8": client_frame(Opcode.TEXT, _compressed(b"ab\xff"), rsv1=True),
    "not DEFLATE": client_frame(Opcode.TEXT, b"\xff\xff\xff\xff", rsv1=True),
    "inflates past max_length": client_frame(Opcode.TEXT, _compressed(b"a" * 5000), rsv1=True),
    "RSV1 on a ping": client_frame(Opcode.PING, b"p", rsv1=True),
}


def _comparable(events: Sequence[Event]) -> list[object]:
    # An ErrorEvent carries the exception instance: compare its type and message.
    return [(type(event), event.message, type(event.error)) if isinstance(event, ErrorEvent) else event
            for event in events]


def _primed(driver: ServerDriver) -> ServerDriver:
    """``driver`` after one message, its parser waiting at a frame boundary (where the one-call
    lane applies; a parser that never ran takes the general path)."""
    driver.receive_data(client_frame(Opcode.BINARY, b"first"))
    assert driver.events_received() == [MessageEvent(b"first")]
    return driver


def _outcome(driver: ServerDriver, data: bytes, *, take: bool) -> tuple[list[object], bytes, object]:
    protocol = _primed(driver).protocol_driver
    assert isinstance(protocol, Hybi)
    events: list[Event] = []
    if take:
        messages = protocol.take_messages(data)
        if messages is not None:
            events += [MessageEvent(message) for message in messages]
    else:
        driver.receive_data(data)
    events += driver.events_received()
    return _comparable(events), driver.data_to_send(), driver.state


def _both(factory: Callable[[], ServerDriver], data: bytes) -> None:
    assert _outcome(factory(), data, take=True) == _outcome(factory(), data, take=False)


@pytest.mark.parametrize("name", list(PLAIN_FRAMES))
def test_take_messages_gives_what_receive_data_gives(name: str) -> None:
    max_length = 100 if "max_length" in name else 1 << 20
    _both(lambda: open_server(max_length=max_length), PLAIN_FRAMES[name])


@pytest.mark.parametrize("name", list(DEFLATE_FRAMES))
def test_take_messages_through_deflate_gives_what_receive_data_gives(name: str) -> None:
    max_length = 1000 if "max_length" in name else 1 << 20
    _both(lambda: open_server(DEFLATE_OFFER, extensions=[PermessageDeflate()], max_length=max_length),
          DEFLATE_FRAMES[name])


@pytest.mark.parametrize("name", list(CLOSE_FRAMES))
def test_a_close_frame_taken_at_once_gives_what_receive_data_gives(name: str) -> None:
    _both(open_server, CLOSE_FRAMES[name])
    _both(lambda: open_server(DEFLATE_OFFER, extensions=[PermessageDeflate()]), CLOSE_FRAMES[name])


@pytest.mark.parametrize("name", list(CLOSE_FRAMES))
def test_the_first_read_after_the_upgrade_takes_a_close_frame_as_receive_data_does(name: str) -> None:
    # The parser has never run: a server's starts at a frame boundary, so take_messages' lanes
    # apply to the first read already.
    taker, feeder = open_server(), open_server()
    protocol = taker.protocol_driver
    assert isinstance(protocol, Hybi)
    messages = protocol.take_messages(CLOSE_FRAMES[name])
    events: list[Event] = [MessageEvent(message) for message in messages or ()]
    feeder.receive_data(CLOSE_FRAMES[name])
    assert _comparable(events + taker.events_received()) == _comparable(feeder.events_received())
    assert (taker.data_to_send(), taker.state) == (feeder.data_to_send(), feeder.state)


def test_the_first_read_after_the_upgrade_takes_a_whole_message_at_once() -> None:
    protocol = open_server().protocol_driver
    assert isinstance(protocol, Hybi)
    assert protocol.take_messages(client_frame(Opcode.TEXT, b"first")) == ("first",)
    second = client_frame(Opcode.TEXT, b"second")
    assert protocol.take_messages(second[:3]) == []
    assert protocol.take_messages(second[3:]) == ["second"]


def test_take_messages_after_a_partial_frame_goes_through_the_buffer() -> None:
    frame = client_frame(Opcode.TEXT, b"x" * 40)
    protocol = _primed(open_server()).protocol_driver
    assert isinstance(protocol, Hybi)
    assert protocol.take_messages(frame) == ("x" * 40,)  # one whole frame: nothing held after it
    assert protocol.take_messages(frame[:7]) == []
    assert protocol.take_messages(frame[7:] + frame) == ["x" * 40, "x" * 40]


def test_a_client_refuses_a_masked_frame_on_either_lane() -> None:
    frame = client_frame(Opcode.TEXT, b"hi")
    taker, feeder = open_client(), open_client()
    for driver in (taker, feeder):
        driver.receive_data(server_frame(Opcode.TEXT, b"first"))
        assert driver.events_received() == [MessageEvent("first")]
    assert taker.take_messages(server_frame(Opcode.TEXT, b"ok")) == ("ok",)
    assert taker.take_messages(frame) is None
    feeder.receive_data(frame)
    assert _comparable(taker.events_received()) == _comparable(feeder.events_received())
    taken, fed = taker.data_to_send(), feeder.data_to_send()  # close frames, masked with other keys
    assert taken[:2] == fed[:2] and len(taken) == len(fed)


@pytest.mark.parametrize("message", ["text " * 50, b"\x00\x01" * 700, "short"])
def test_frame_message_through_deflate_is_what_send_writes(message: str | bytes) -> None:
    framer = open_server(DEFLATE_OFFER, extensions=[PermessageDeflate()]).protocol_driver
    sender = open_server(DEFLATE_OFFER, extensions=[PermessageDeflate()]).protocol_driver
    assert isinstance(framer, Hybi) and isinstance(sender, Hybi)
    for _ in range(3):  # context takeover: each frame depends on the ones before
        frame = framer.frame_message(message)
        assert sender.send(message)
        assert frame == sender.data_to_send()
    assert framer.events_received() == []


class _FailingOutgoing:
    name = "x-failing"
    type = "permessage"
    rsv1 = False
    rsv2 = True
    rsv3 = False

    def create_client_session(self) -> None:
        return None

    def create_server_session(self, offers: Sequence[Params]) -> _FailingOutgoing:
        return self

    def generate_response(self) -> Params:
        return {}

    def process_incoming_message(self, message: Message, max_length: int) -> Message:
        return message

    def process_outgoing_message(self, message: Message) -> Message:
        raise RuntimeError("cannot send")

    def close(self) -> None:
        pass


def test_frame_message_fails_the_connection_as_send_does_when_an_extension_raises() -> None:
    offer = "Sec-WebSocket-Extensions: x-failing"
    framer = open_server(offer, extensions=[_FailingOutgoing()])
    sender = open_server(offer, extensions=[_FailingOutgoing()])
    protocol = framer.protocol_driver
    assert isinstance(protocol, Hybi)
    assert protocol.frame_message("hi") is None
    assert not framer.send("hi")  # what the I/O layer does next: send reports the failure
    assert not sender.send("hi")
    assert _comparable(framer.events_received()) == _comparable(sender.events_received())
    assert framer.data_to_send() == sender.data_to_send()
    assert framer.state == sender.state


@pytest.mark.parametrize(("frames", "name", "expected"), [
    (PLAIN_FRAMES, "text 16 B", "x" * 16),
    (PLAIN_FRAMES, "binary 1 KiB", b"\xfe" * 1024),
    (PLAIN_FRAMES, "16-bit length for 5 bytes (non-minimal)", "hello"),
    (DEFLATE_FRAMES, "compressed text", '{"a": 1}' * 40),
])
def test_a_whole_common_frame_comes_back_from_take_messages(
    frames: dict[str, bytes], name: str, expected: str | bytes
) -> None:
    deflate = frames is DEFLATE_FRAMES
    driver = open_server(DEFLATE_OFFER, extensions=[PermessageDeflate()]) if deflate else open_server()
    protocol = _primed(driver).protocol_driver
    assert isinstance(protocol, Hybi)
    assert protocol.take_messages(frames[name]) == (expected,)
    assert protocol.held_bytes == 0
