"""Sends made before the handshake completes: queued, checked at the call, copied, flushed after the
101 (or the hixie-76 challenge answer) in order, dropped on rejection or close."""

from __future__ import annotations

import pytest

from faye_websocket.driver.client import ClientDriver
from faye_websocket.driver.frames import Opcode
from faye_websocket.driver.server import ServerDriver
from faye_websocket.events import CloseEvent, MessageEvent, OpenEvent, PingEvent

from .drivers import open_server, request_bytes, response_for, server_frame


def test_sends_before_open_are_queued_and_flushed_in_order() -> None:
    client = ClientDriver("ws://example.com/")
    client.start()
    client.data_to_send()
    assert client.send("one") and client.send(b"two") and client.ping(b"p")
    assert client.data_to_send() == b""
    client.receive_data(response_for(client))
    assert client.events_received() == [OpenEvent()]
    out = client.data_to_send()
    server = open_server()
    server.receive_data(out)
    assert server.events_received() == [MessageEvent("one"), MessageEvent(b"two"), PingEvent(b"p")]


def test_close_while_connecting_aborts_without_writing_a_frame() -> None:
    client = ClientDriver("ws://example.com/")
    client.start()
    client.data_to_send()
    client.send("queued")
    assert client.close(1000, "never mind")
    assert client.data_to_send() == b""
    assert client.events_received() == [CloseEvent(1000, "never mind", False)]


def test_text_that_cannot_be_utf8_is_refused_when_queued_not_when_the_handshake_completes() -> None:
    # Encoding used to happen when the queue was flushed, inside receive_data: the
    # UnicodeEncodeError escaped from the parser and left the connection without events.
    client = ClientDriver("ws://example.com/")
    client.start()
    client.data_to_send()
    with pytest.raises(UnicodeEncodeError):
        client.text("\ud800")
    client.receive_data(response_for(client))
    assert client.events_received() == [OpenEvent()]
    client.receive_data(server_frame(Opcode.TEXT, b"still parsing"))
    assert client.events_received() == [MessageEvent("still parsing")]


def test_binary_queued_while_connecting_is_copied_at_the_call() -> None:
    client = ClientDriver("ws://example.com/")
    client.start()
    client.data_to_send()
    buffer = bytearray(b"abc")
    assert client.binary(buffer)  # type: ignore[arg-type]  # bytes-like, as send() accepts
    buffer[:] = b"xyz"
    client.receive_data(response_for(client))
    server = open_server()
    server.receive_data(client.data_to_send())
    assert server.events_received() == [MessageEvent(b"abc")]


def test_server_sends_before_the_request_head_arrives_go_out_after_the_101() -> None:
    # A raw socketserver handler gets its WebSocket before the head is read; what it sends then
    # was queued in a placeholder driver and silently lost once the real one took over.
    server = ServerDriver(None)
    assert server.send("welcome")
    assert server.send(b"\x01\x02")
    assert server.ping(b"p")
    server.receive_data(request_bytes())
    server.start()
    data = server.data_to_send()
    head, _, frames = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert frames == server_frame(Opcode.TEXT, b"welcome") + server_frame(Opcode.BINARY, b"\x01\x02") + (
        server_frame(Opcode.PING, b"p")
    )


def test_server_sends_before_the_head_are_validated_at_the_call_and_dropped_on_rejection() -> None:
    server = ServerDriver(None)
    with pytest.raises(TypeError):
        server.send(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        server.ping(b"x" * 126)
    with pytest.raises(UnicodeEncodeError):
        server.send("\udfff")
    assert server.send("lost")
    server.receive_data(request_bytes().replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 99"))
    server.start()
    data = server.data_to_send()
    assert data.startswith(b"HTTP/1.1 426 ") and b"lost" not in data
    assert not server.send("after")


def test_server_close_before_the_head_discards_the_queued_sends() -> None:
    server = ServerDriver(None)
    assert server.send("never")
    assert server.close()
    assert [type(e) for e in server.events_received()] == [CloseEvent]
    assert not server.send("late")
    server.receive_data(request_bytes())
    server.start()
    assert server.data_to_send() == b""


def test_draft76_sends_before_the_head_follow_the_challenge_answer() -> None:
    head = (b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n"
            b"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n"
            b"Origin: http://example.com\r\n\r\n")
    server = ServerDriver(None, allow_drafts=True)
    assert server.send("hello")
    server.receive_data(head)
    server.start()
    server.receive_data(b"^n:ds[4U")
    data = server.data_to_send()
    assert data.endswith(b"8jKS'y:G*Co,Wxa-" + b"\x00hello\xff")
