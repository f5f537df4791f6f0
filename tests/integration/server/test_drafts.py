"""hixie-76 and hixie-75 handshakes and echo with allow_drafts=True, on both server paths."""

from __future__ import annotations

import time

import pytest

from tests.integration.server_support import HTTPServerThread, RawClient, RawServerThread

# The example handshake of draft-hixie-thewebsocketprotocol-76, section 1.3 (and its answer).
KEY1 = "4 @1  46546xW%0l 1 5"
KEY2 = "12998 5 Y3 1  .P00"
KEY3 = b"^n:ds[4U"
DIGEST = b"8jKS'y:G*Co,Wxa-"


def draft76_head(path: str = "/demo") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key2: {KEY2}\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key1: {KEY1}\r\n"
            "Origin: http://example.com\r\n\r\n").encode("latin-1")


def draft75_head(path: str = "/demo") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: example.com\r\n"
            "Origin: http://example.com\r\n\r\n").encode("latin-1")


def text_frame(text: str) -> bytes:
    return b"\x00" + text.encode("utf-8") + b"\xff"


@pytest.fixture(params=[HTTPServerThread, RawServerThread], ids=["http_server", "socketserver"])
def server(request: pytest.FixtureRequest):
    with request.param(allow_drafts=True) as running:
        yield running


def test_draft76_with_key_bytes_in_the_head_segment_opens_and_echoes(server) -> None:
    with RawClient(server.port, request=draft76_head(), trailing=KEY3 + text_frame("hello")) as raw:
        assert raw.status == 101
        assert raw.header("Sec-WebSocket-Location") == "ws://example.com/demo"
        assert raw.read_exact(16) == DIGEST
        assert raw.read_exact(7) == text_frame("hello")
        ws = server.recorded.wait_socket()
        assert ws.version == "hixie-76"


def test_draft76_key_bytes_arriving_after_the_head_open_the_connection_then(server) -> None:
    with RawClient(server.port, request=draft76_head()) as raw:
        assert raw.status == 101
        server.recorded.wait_socket()
        assert not server.recorded.of_type("open")
        raw.send(KEY3[:3])
        raw.send(KEY3[3:])
        assert raw.read_exact(16) == DIGEST
        server.recorded.wait_for("open")
        raw.send(text_frame("héllo"))
        assert raw.read_exact(len(text_frame("héllo"))) == text_frame("héllo")


def test_draft76_closing_frame_ends_the_connection_with_one_close_event(server) -> None:
    with RawClient(server.port, request=draft76_head(), trailing=KEY3) as raw:
        assert raw.read_exact(16) == DIGEST
        raw.send(b"\xff\x00")
        rest = raw.read_until_eof()
        assert rest in (b"", b"\xff\x00")
    server.recorded.wait_for("close")
    assert len(server.recorded.of_type("close")) == 1


def test_draft75_handshake_opens_and_echoes(server) -> None:
    with RawClient(server.port, request=draft75_head(), trailing=text_frame("one")) as raw:
        assert raw.status == 101
        assert raw.header("WebSocket-Location") == "ws://example.com/demo"
        assert raw.read_exact(5) == text_frame("one")
        raw.send(text_frame("two") + text_frame("three"))
        assert raw.read_exact(12) == text_frame("two") + text_frame("three")
        assert server.recorded.wait_socket().version == "hixie-75"


def test_draft_handshakes_are_refused_with_400_unless_allowed() -> None:
    with HTTPServerThread() as server:
        with RawClient(server.port, request=draft76_head(), trailing=KEY3) as raw:
            assert raw.status == 400
        with RawClient(server.port, request=draft75_head()) as raw:
            assert raw.status == 400


def test_ping_option_does_not_time_out_a_quiet_draft_peer_that_cannot_pong() -> None:
    with HTTPServerThread(allow_drafts=True, ping=0.1, pong_timeout=0.2) as server, \
            RawClient(server.port, request=draft76_head(), trailing=KEY3) as raw:
        assert raw.read_exact(16) == DIGEST
        time.sleep(0.6)  # several ping intervals of silence: hixie has no ping, so nothing to miss
        raw.send(text_frame("still open"))
        assert raw.read_exact(len(text_frame("still open"))) == text_frame("still open")
        assert not server.recorded.of_type("close")
