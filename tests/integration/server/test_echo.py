"""Echo through the server-side WebSocket over real loopback sockets.

Peers: python ``websockets`` (sync client), node ``ws`` (tests/peers), and hand-written frames.
Both server paths: http.server with ``from_handler`` and raw socketserver (driver reads the head).
"""

from __future__ import annotations

import os
import time

import pytest
from websockets.sync.client import connect

from tests.integration.components import run_node_client
from tests.integration.server_support import (
    BINARY,
    CLOSE,
    CONTINUATION,
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    RawServerThread,
    accept_for,
    client_frame,
    close_payload,
    handshake_request,
)

SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]
SERVERS = [HTTPServerThread, RawServerThread]


@pytest.fixture(params=SERVERS, ids=["http_server", "socketserver"])
def server(request: pytest.FixtureRequest):
    with request.param() as running:
        yield running


@pytest.mark.parametrize("size", SIZES)
def test_websockets_client_gets_binary_messages_echoed_from_0_bytes_to_16_mib(server, size: int) -> None:
    payload = os.urandom(size)
    with connect(server.url(), max_size=None, open_timeout=WAIT, close_timeout=WAIT) as client:
        client.send(payload)
        assert client.recv(timeout=30) == payload


@pytest.mark.parametrize("size", SIZES)
def test_websockets_client_gets_text_messages_echoed_from_0_bytes_to_16_mib(server, size: int) -> None:
    text = ("aé€😀" * (size // 10 + 1))[: size // 3]
    with connect(server.url(), max_size=None, open_timeout=WAIT, close_timeout=WAIT) as client:
        client.send(text)
        assert client.recv(timeout=30) == text


def test_many_messages_in_a_row_come_back_in_order(server) -> None:
    with connect(server.url(), open_timeout=WAIT) as client:
        for number in range(200):
            client.send(f"message {number}")
        assert [client.recv(timeout=WAIT) for _ in range(200)] == [f"message {n}" for n in range(200)]


def test_handshake_answers_101_with_the_accept_key(server) -> None:
    with RawClient(server.port) as raw:
        assert raw.status == 101
        assert raw.header("Sec-WebSocket-Accept") == accept_for(raw.key)
        assert raw.header("Upgrade").lower() == "websocket"


def test_first_frame_sent_in_the_same_segment_as_the_handshake_is_delivered(server) -> None:
    with RawClient(server.port, trailing=client_frame(TEXT, b"early bird")) as raw:
        assert raw.status == 101
        frame = raw.read_message()
        assert (frame.opcode, frame.payload) == (TEXT, b"early bird")
        assert raw.close_handshake().close_code == 1000


def test_head_and_several_frames_split_one_byte_at_a_time_are_delivered(server) -> None:
    head, key = handshake_request()
    frames = b"".join([client_frame(TEXT, b"one"), client_frame(BINARY, b"\x00two"),
                       client_frame(TEXT, "três".encode())])
    with RawClient(server.port, request=b"", read_response=False) as raw:
        for byte in head + frames:
            raw.send(bytes([byte]))
        raw.read_response()
        assert raw.header("Sec-WebSocket-Accept") == accept_for(key)
        received = [raw.read_message() for _ in range(3)]
        assert [(f.opcode, f.payload) for f in received] == [
            (TEXT, b"one"), (BINARY, b"\x00two"), (TEXT, "três".encode())]


def test_fragmented_message_is_reassembled_with_a_ping_in_between(server) -> None:
    with RawClient(server.port) as raw:
        raw.send_frame(TEXT, b"frag", fin=False)
        raw.send_frame(0x9, b"ping!")
        raw.send_frame(CONTINUATION, b"men", fin=False)
        raw.send_frame(CONTINUATION, b"ted")
        pong = raw.read_frame()
        assert (pong.opcode, pong.payload) == (0xA, b"ping!")
        message = raw.read_message()
        assert (message.opcode, message.payload) == (TEXT, b"fragmented")


def test_server_frames_are_never_masked(server) -> None:
    with RawClient(server.port) as raw:
        raw.send_frame(BINARY, b"x" * 300)
        frame = raw.read_message()
        assert not frame.masked and frame.payload == b"x" * 300


@pytest.mark.parametrize(("offered", "chosen"),
                         [("xmpp, irc", "xmpp"), ("irc", "irc"), ("mqtt, xmpp", "xmpp")])
def test_server_picks_the_first_offered_subprotocol_it_supports(offered: str, chosen: str) -> None:
    with HTTPServerThread(protocols=["irc", "xmpp"]) as server, \
            RawClient(server.port, protocols=offered) as raw:
        assert raw.header("Sec-WebSocket-Protocol") == chosen
        ws = server.recorded.wait_socket()
        server.recorded.wait_for("open")
        assert ws.protocol == chosen


def test_no_common_subprotocol_means_no_protocol_header_and_the_connection_still_opens() -> None:
    with HTTPServerThread(protocols=["irc"]) as server, RawClient(server.port, protocols="mqtt") as raw:
        assert raw.status == 101 and raw.header("Sec-WebSocket-Protocol") is None
        raw.send_frame(TEXT, b"still here")
        assert raw.read_message().payload == b"still here"


def test_websocket_properties_describe_the_connection() -> None:
    with HTTPServerThread(protocols=["irc"]) as server, \
            connect(server.url("/chat?room=1"), subprotocols=["irc"], open_timeout=WAIT) as client:
        client.send("hi")
        client.recv(timeout=WAIT)
        ws = server.recorded.wait_socket()
        assert ws.url == f"ws://127.0.0.1:{server.port}/chat?room=1"
        assert ws.version == "hybi-13"
        assert ws.protocol == "irc"
        assert ws.ready_state.name == "OPEN"
        # The echo reached the client, so the server's write has returned (or is returning).
        deadline = time.monotonic() + WAIT
        while ws.buffered_amount and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ws.buffered_amount == 0


def test_open_event_comes_before_messages_and_close_comes_last() -> None:
    with HTTPServerThread() as server:
        with RawClient(server.port, trailing=client_frame(TEXT, b"a")) as raw:
            raw.read_message()
            raw.close_handshake()
        server.recorded.wait_for("close")
        kinds = [event.type for _, event in server.recorded.events]
        assert kinds == ["open", "message", "close"]


def test_node_ws_client_gets_its_messages_echoed_with_permessage_deflate() -> None:
    from faye_websocket.extensions.permessage_deflate import PermessageDeflate

    with HTTPServerThread(extensions=[PermessageDeflate()]) as server:
        result = run_node_client("ws_client", server.url(), ["hello", "hex:00ff10", "x" * 70000], timeout=20)
    assert result.returncode == 0, result.output
    opened = [e for e in result.events if e["event"] == "open"][0]
    assert "permessage-deflate" in opened["extensions"]
    messages = [e for e in result.events if e["event"] == "message"]
    assert len(messages) == 3, result.output


def test_close_frame_without_a_code_is_answered_with_an_empty_close() -> None:
    with HTTPServerThread() as server, RawClient(server.port) as raw:
        raw.send_frame(CLOSE, b"")
        frame = raw.read_message()
        assert frame.opcode == CLOSE
        raw.expect_eof()
        (close,) = server.recorded.wait_for("close")
        assert close.code == 1005


def test_close_reason_reaches_the_server_listener() -> None:
    with HTTPServerThread() as server, RawClient(server.port) as raw:
        raw.send_frame(CLOSE, close_payload(4000, "bye now"))
        assert raw.read_message().close_code == 4000
        (close,) = server.recorded.wait_for("close")
        assert (close.code, close.reason, close.was_clean) == (4000, "bye now", True)


def test_recv_loop_gets_every_message_of_a_segment_that_carries_several() -> None:
    def recv_loop(ws) -> None:
        for message in ws:
            ws.send(message)

    with HTTPServerThread(recv_loop) as server, RawClient(server.port) as raw:
        raw.send(b"".join(client_frame(TEXT, f"m{n}".encode()) for n in range(5)))
        assert [raw.read_message().payload for _ in range(5)] == [f"m{n}".encode() for n in range(5)]
        raw.close_handshake()
