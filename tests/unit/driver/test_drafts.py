"""The legacy drafts behind allow_drafts=True: hixie-76 (challenge, key3 timing) and hixie-75."""

from __future__ import annotations

import pytest

from faye_websocket.driver.draft76 import challenge_response, draft76_key_number
from faye_websocket.driver.server import ServerDriver
from faye_websocket.errors import HandshakeError
from faye_websocket.events import CloseEvent, MessageEvent, OpenEvent

from .drivers import splits

# The example of draft-hixie-thewebsocketprotocol-76 section 1.3.
KEY1 = "18x 6]8vM;54 *(5:  {   U1]8  z [  8"
KEY2 = "1_ tx7X d  <  nw  334J702) 7]o}` 0"
KEY3 = b"Tm[K T2u"
DIGEST = b"fQJ,fN/4F4!~K~MH"

DRAFT76_HEAD = "\r\n".join([
    "GET /demo HTTP/1.1", "Host: example.com", "Connection: Upgrade", f"Sec-WebSocket-Key2: {KEY2}",
    "Sec-WebSocket-Protocol: sample", "Upgrade: WebSocket", f"Sec-WebSocket-Key1: {KEY1}",
    "Origin: http://example.com", "", ""]).encode()
DRAFT75_HEAD = b"GET /demo HTTP/1.1\r\nHost: example.com\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n" \
               b"Origin: http://example.com\r\n\r\n"


def raw_driver(chunks: list[bytes], **options: object) -> ServerDriver:
    driver = ServerDriver(None, allow_drafts=True, **options)  # type: ignore[arg-type]
    for chunk in chunks:
        driver.receive_data(chunk)
        if driver.request is not None:
            driver.start()
    return driver


def test_draft76_key_arithmetic_matches_the_spec_example() -> None:
    assert draft76_key_number(KEY1) == 155712099 and draft76_key_number(KEY2) == 173347027
    assert challenge_response(155712099, 173347027, KEY3) == DIGEST


@pytest.mark.parametrize("key", ["12345", "1 2 3x", "  ", "", "99999999999 9"])
def test_invalid_draft76_keys_are_rejected_not_crashing(key: str) -> None:
    with pytest.raises(HandshakeError):
        draft76_key_number(key)


def test_draft76_opens_only_once_the_8_key_bytes_arrived_in_any_split() -> None:
    frame = b"\x00hello\xff"
    for chunks in splits(DRAFT76_HEAD + KEY3 + frame):
        driver = raw_driver(chunks, protocols=["sample"])
        out = driver.data_to_send()
        assert out.startswith(b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n")
        assert b"Sec-WebSocket-Location: ws://example.com/demo\r\n" in out
        assert b"Sec-WebSocket-Origin: http://example.com\r\n" in out
        assert b"Sec-WebSocket-Protocol: sample\r\n" in out
        assert out.endswith(b"\r\n\r\n" + DIGEST)
        assert driver.events_received() == [OpenEvent(), MessageEvent("hello")]
        assert driver.version == "hixie-76"


def test_draft76_key3_arriving_later_completes_the_handshake_then() -> None:
    driver = raw_driver([DRAFT76_HEAD])
    assert driver.data_to_send().endswith(b"\r\n\r\n")
    assert driver.events_received() == []
    driver.receive_data(KEY3[:3])
    assert driver.data_to_send() == b""
    driver.receive_data(KEY3[3:])
    assert driver.data_to_send() == DIGEST
    assert driver.events_received() == [OpenEvent()]


def test_draft76_with_bad_keys_gets_400() -> None:
    driver = raw_driver([DRAFT76_HEAD.replace(KEY1.encode(), b"1 2 3")])
    assert driver.data_to_send().startswith(b"HTTP/1.1 400 ")


def test_draft76_send_close_and_closing_frame() -> None:
    driver = raw_driver([DRAFT76_HEAD + KEY3])
    driver.data_to_send()
    driver.events_received()
    assert driver.send("hi") and not driver.send(b"binary") and not driver.ping()
    assert driver.data_to_send() == b"\x00hi\xff"
    driver.receive_data(b"\xff\x00")
    assert driver.data_to_send() == b"\xff\x00"
    assert driver.events_received() == [CloseEvent(1000, "", True)]
    assert driver.close_expected()


def test_draft75_handshake_and_echo() -> None:
    for chunks in splits(DRAFT75_HEAD + b"\x00one\xff\x00two\xff"):
        driver = raw_driver(chunks)
        out = driver.data_to_send()
        assert out.startswith(b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n")
        assert b"WebSocket-Location: ws://example.com/demo\r\n" in out
        assert driver.events_received() == [OpenEvent(), MessageEvent("one"), MessageEvent("two")]
        assert driver.version == "hixie-75"


def test_draft75_length_prefixed_frames_are_skipped_and_limits_hold() -> None:
    driver = raw_driver([DRAFT75_HEAD + b"\x80\x03abc\x00ok\xff"], max_length=10)
    assert driver.events_received() == [OpenEvent(), MessageEvent("ok")]
    driver.receive_data(b"\x00" + b"x" * 11)
    events = driver.events_received()
    assert isinstance(events[-1], CloseEvent) and events[-1].code == 1009


def test_draft75_invalid_utf8_closes() -> None:
    driver = raw_driver([DRAFT75_HEAD + b"\x00\xc3\x28\xff"])
    events = driver.events_received()
    assert isinstance(events[-1], CloseEvent) and events[-1].code == 1007


def test_draft75_close_is_immediate() -> None:
    driver = raw_driver([DRAFT75_HEAD])
    driver.events_received()
    assert driver.close()
    assert driver.events_received() == [CloseEvent(1000, "", True)]
    assert driver.close_expected()
