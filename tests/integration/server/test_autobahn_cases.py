"""An Autobahn-style self-check of the server through real sockets, with hand-built client frames.

Section numbers follow the Autobahn testsuite's (1 framing, 2 pings, 3 reserved bits, 4 opcodes,
5 fragmentation, 6 UTF-8, 7 close, 9 limits, 12 compression). The expected behaviour is RFC 6455:
an echo, or a close frame with the right code followed by the server ending TCP.
"""

from __future__ import annotations

import contextlib
import os

import pytest
from websockets.sync.client import connect

from tests.integration.server_support import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    client_frame,
    close_payload,
)

MAX_LENGTH = 1 << 20  # the limit of the server used for section 9


@pytest.fixture(scope="module")
def server():
    with HTTPServerThread(max_length=MAX_LENGTH) as running:
        yield running


@pytest.fixture
def raw(server):
    with RawClient(server.port) as client:
        yield client


def expect_failure(raw: RawClient, code: int) -> None:
    """The server answers with a close frame carrying ``code`` and then ends TCP."""
    frame = raw.read_message()
    assert frame.opcode == CLOSE, f"expected a close frame, got {frame}"
    assert frame.close_code == code
    raw.expect_eof()


def expect_echo(raw: RawClient, opcode: int, payload: bytes) -> None:
    frame = raw.read_message()
    assert (frame.opcode, frame.payload, frame.fin) == (opcode, payload, True)


# -- 1. framing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 125, 126, 127, 128, 65535, 65536, 65537, 200_000])
@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_1_framing_every_length_encoding_round_trips(raw: RawClient, opcode: int, size: int) -> None:
    payload = b"*" * size
    raw.send_frame(opcode, payload)
    expect_echo(raw, opcode, payload)


def test_1_frame_split_into_single_bytes_is_reassembled(raw: RawClient) -> None:
    for byte in client_frame(BINARY, os.urandom(300)[:1] + b"split"):
        raw.send(bytes([byte]))
    assert raw.read_message().payload.endswith(b"split")


# -- 2. pings and pongs -------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [b"", b"hello", b"\x00\xff" * 62 + b"!"])
def test_2_ping_is_answered_with_a_pong_of_the_same_payload(raw: RawClient, payload: bytes) -> None:
    raw.send_frame(PING, payload)
    frame = raw.read_frame()
    assert (frame.opcode, frame.payload) == (PONG, payload)


def test_2_ping_with_126_bytes_fails_with_1002(raw: RawClient) -> None:
    raw.send_frame(PING, b"x" * 126)
    expect_failure(raw, 1002)


def test_2_unsolicited_pong_is_ignored(raw: RawClient) -> None:
    raw.send_frame(PONG, b"unasked")
    raw.send_frame(TEXT, b"after")
    expect_echo(raw, TEXT, b"after")


def test_2_ten_pings_get_ten_pongs_in_order(raw: RawClient) -> None:
    raw.send(b"".join(client_frame(PING, str(n).encode()) for n in range(10)))
    assert [raw.read_frame().payload for _ in range(10)] == [str(n).encode() for n in range(10)]


# -- 3. reserved bits ---------------------------------------------------------------------------

@pytest.mark.parametrize(("opcode", "rsv"), [(TEXT, 4), (TEXT, 2), (BINARY, 1), (PING, 5), (TEXT, 7)])
def test_3_reserved_bits_without_an_extension_fail_with_1002(raw: RawClient, opcode: int, rsv: int) -> None:
    raw.send_frame(opcode, b"rsv", rsv=rsv)
    expect_failure(raw, 1002)


def test_3_reserved_bit_after_a_good_message_still_fails(raw: RawClient) -> None:
    raw.send_frame(TEXT, b"good")
    expect_echo(raw, TEXT, b"good")
    raw.send_frame(TEXT, b"bad", rsv=1)
    expect_failure(raw, 1002)


# -- 4. opcodes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_4_reserved_opcodes_fail_with_1002(raw: RawClient, opcode: int) -> None:
    raw.send_frame(opcode, b"reserved")
    expect_failure(raw, 1002)


# -- 5. fragmentation ---------------------------------------------------------------------------

@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_5_fragmented_control_frame_fails_with_1002(raw: RawClient, opcode: int) -> None:
    raw.send_frame(opcode, b"frag", fin=False)
    expect_failure(raw, 1002)


def test_5_message_in_many_fragments_is_reassembled(raw: RawClient) -> None:
    parts = [b"one ", b"two ", b"", b"three"]
    raw.send_frame(TEXT, parts[0], fin=False)
    for part in parts[1:-1]:
        raw.send_frame(CONTINUATION, part, fin=False)
    raw.send_frame(CONTINUATION, parts[-1])
    expect_echo(raw, TEXT, b"".join(parts))


def test_5_control_frames_between_fragments_are_handled_at_once(raw: RawClient) -> None:
    raw.send_frame(BINARY, b"a", fin=False)
    raw.send_frame(PONG, b"ignored")
    raw.send_frame(PING, b"p")
    assert raw.read_frame().opcode == PONG
    raw.send_frame(CONTINUATION, b"b")
    expect_echo(raw, BINARY, b"ab")


def test_5_continuation_without_a_message_fails_with_1002(raw: RawClient) -> None:
    raw.send_frame(CONTINUATION, b"orphan")
    expect_failure(raw, 1002)


def test_5_new_message_inside_a_fragmented_one_fails_with_1002(raw: RawClient) -> None:
    raw.send_frame(TEXT, b"first", fin=False)
    raw.send_frame(TEXT, b"second")
    expect_failure(raw, 1002)


# -- 6. UTF-8 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["κόσμε", "\U0001F600 emoji", "\u0000 nul", "\uffff", "\U0010ffff"])
def test_6_valid_utf8_text_is_echoed(raw: RawClient, text: str) -> None:
    raw.send_frame(TEXT, text.encode("utf-8"))
    expect_echo(raw, TEXT, text.encode("utf-8"))


@pytest.mark.parametrize("data", [b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xff", b"ok\x80"])
def test_6_invalid_utf8_text_fails_with_1007(raw: RawClient, data: bytes) -> None:
    raw.send_frame(TEXT, data)
    expect_failure(raw, 1007)


def test_6_code_point_split_across_fragments_is_valid(raw: RawClient) -> None:
    encoded = "€".encode()
    raw.send_frame(TEXT, encoded[:1], fin=False)
    raw.send_frame(CONTINUATION, encoded[1:])
    expect_echo(raw, TEXT, encoded)


def test_6_invalid_utf8_in_a_first_fragment_fails_fast_before_the_message_ends(raw: RawClient) -> None:
    raw.send_frame(TEXT, b"good then \xed\xa0\x80 bad", fin=False)  # final fragment never sent
    expect_failure(raw, 1007)


# -- 7. closing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 3000, 4999])
def test_7_valid_close_codes_are_echoed(raw: RawClient, code: int) -> None:
    raw.send_frame(CLOSE, close_payload(code, "reason"))
    frame = raw.read_message()
    assert frame.opcode == CLOSE and frame.close_code == code
    raw.expect_eof()


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_7_invalid_close_codes_fail_with_1002(raw: RawClient, code: int) -> None:
    raw.send_frame(CLOSE, close_payload(code))
    expect_failure(raw, 1002)


def test_7_close_with_a_one_byte_payload_fails_with_1002(raw: RawClient) -> None:
    raw.send_frame(CLOSE, b"\x03")
    expect_failure(raw, 1002)


def test_7_close_reason_that_is_not_utf8_fails_with_1007(raw: RawClient) -> None:
    raw.send_frame(CLOSE, close_payload(1000) + b"\xff\xfe")
    expect_failure(raw, 1007)


def test_7_close_with_a_123_byte_reason_is_echoed(raw: RawClient) -> None:
    raw.send_frame(CLOSE, close_payload(1000, "r" * 123))
    frame = raw.read_message()
    assert frame.close_code == 1000
    raw.expect_eof()


def test_7_frames_after_the_close_frame_are_ignored(raw: RawClient) -> None:
    raw.send(client_frame(CLOSE, close_payload(1000)) + client_frame(TEXT, b"late")
             + client_frame(PING, b"p"))
    frame = raw.read_frame()
    assert frame.opcode == CLOSE
    raw.expect_eof()


# -- 9. limits ----------------------------------------------------------------------------------

def test_9_message_over_max_length_fails_with_1009(raw: RawClient) -> None:
    # The server fails the connection at the frame's header, before its payload: on a busy machine
    # it ends TCP while part of the megabyte is still being written, and the kernel then answers
    # the rest with a reset (the write's error). Its close frame came first and is still read.
    try:
        raw.send_frame(BINARY, b"\x00" * (MAX_LENGTH + 1))
        reset_expected = False
    except (BrokenPipeError, ConnectionResetError):
        reset_expected = True
    frame = raw.read_message()
    assert frame.opcode == CLOSE and frame.close_code == 1009, f"expected a 1009 close frame, got {frame}"
    if reset_expected:
        with contextlib.suppress(ConnectionResetError):
            raw.expect_eof()
    else:
        raw.expect_eof()


def test_9_fragments_adding_up_over_max_length_fail_with_1009(raw: RawClient) -> None:
    half = b"\x00" * (MAX_LENGTH // 2 + 1)
    raw.send_frame(BINARY, half, fin=False)
    raw.send_frame(CONTINUATION, half)
    expect_failure(raw, 1009)


def test_9_huge_declared_length_fails_before_any_payload_arrives(raw: RawClient) -> None:
    raw.send(client_frame(BINARY, b"", length_override=1 << 40)[:-4] + os.urandom(4))
    expect_failure(raw, 1009)


def test_9_message_of_exactly_max_length_is_accepted(raw: RawClient) -> None:
    payload = os.urandom(MAX_LENGTH)
    raw.send_frame(BINARY, payload)
    expect_echo(raw, BINARY, payload)


# -- 12. compression ----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 10, 4096, 1 << 20])
def test_12_permessage_deflate_echo_with_an_independent_client(size: int) -> None:
    from faye_websocket.extensions.permessage_deflate import PermessageDeflate

    payload = (b"compressible " * (size // 13 + 1))[:size]
    with HTTPServerThread(extensions=[PermessageDeflate()]) as server, \
            connect(server.url(), compression="deflate", max_size=None, open_timeout=WAIT) as client:
        assert "permessage-deflate" in (client.response.headers.get("Sec-WebSocket-Extensions") or "")
        for _ in range(3):  # context takeover across messages
            client.send(payload)
            assert client.recv(timeout=WAIT) == payload
