"""permessage-deflate's codec (RFC 7692 section 7.2): vectors, context takeover, windows, limits."""

from __future__ import annotations

import os
import random
import tracemalloc
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faye_websocket.driver.frames import Opcode
from faye_websocket.errors import ExtensionError, MessageTooLarge, ProtocolError
from faye_websocket.extensions import Extensions, Message, PermessageDeflate
from faye_websocket.extensions.permessage_deflate import DeflateParameters

HELLO = b"Hello"
# RFC 7692 section 7.2.3.1: "Hello" compressed with one compressed DEFLATE block
HELLO_COMPRESSED = bytes.fromhex("f248cdc9c90700")
# RFC 7692 section 7.2.3.2: the second "Hello" when the sliding window is shared
HELLO_AGAIN_COMPRESSED = bytes.fromhex("f200110000")


def negotiate(client: PermessageDeflate, server: PermessageDeflate) -> tuple[Extensions, Extensions]:
    """A client and a server registry that have completed the handshake with each other."""
    client_ext, server_ext = Extensions(), Extensions()
    client_ext.add(client)
    server_ext.add(server)
    response = server_ext.generate_response(client_ext.generate_offer())
    client_ext.activate(response)
    assert client_ext.has_sessions and server_ext.has_sessions
    return client_ext, server_ext


def send(ext: Extensions, data: bytes, opcode: Opcode = Opcode.BINARY) -> Message:
    return ext.process_outgoing_message(Message(opcode, data))


def receive(ext: Extensions, data: bytes, *, rsv1: bool = True, max_length: int = 2**20) -> bytes:
    return ext.process_incoming_message(Message(Opcode.BINARY, data, rsv1=rsv1), max_length).data


def test_hello_compresses_to_the_rfc_7692_vector_with_rsv1_set() -> None:
    client, _ = negotiate(PermessageDeflate(), PermessageDeflate())
    message = send(client, HELLO, Opcode.TEXT)
    assert message == Message(Opcode.TEXT, HELLO_COMPRESSED, rsv1=True)


def test_second_hello_shares_the_sliding_window_by_default() -> None:
    client, server = negotiate(PermessageDeflate(), PermessageDeflate())
    assert send(client, HELLO).data == HELLO_COMPRESSED
    assert send(client, HELLO).data == HELLO_AGAIN_COMPRESSED
    assert send(server, HELLO).data == HELLO_COMPRESSED
    assert send(server, HELLO).data == HELLO_AGAIN_COMPRESSED


@pytest.mark.parametrize(
    ("client", "server", "resetting_side"),
    [
        (PermessageDeflate(no_context_takeover=True), PermessageDeflate(), "client"),
        (PermessageDeflate(), PermessageDeflate(request_no_context_takeover=True), "client"),
        (PermessageDeflate(request_no_context_takeover=True), PermessageDeflate(), "server"),
        (PermessageDeflate(), PermessageDeflate(no_context_takeover=True), "server"),
    ],
)
def test_no_context_takeover_compresses_every_hello_alike_in_that_direction_only(
    client: PermessageDeflate, server: PermessageDeflate, resetting_side: str
) -> None:
    client_ext, server_ext = negotiate(client, server)
    resetting, keeping = (client_ext, server_ext) if resetting_side == "client" else (server_ext, client_ext)
    assert [send(resetting, HELLO).data for _ in range(3)] == [HELLO_COMPRESSED] * 3
    assert [send(keeping, HELLO).data for _ in range(2)] == [HELLO_COMPRESSED, HELLO_AGAIN_COMPRESSED]


@pytest.mark.parametrize(
    "payload",
    [
        HELLO_COMPRESSED,  # section 7.2.3.1
        bytes.fromhex("000500faff48656c6c6f00"),  # section 7.2.3.3: a block with no compression
        bytes.fromhex("f348cdc9c9070000"),  # section 7.2.3.4: a block with BFINAL set to 1
        bytes.fromhex("f248050000 00ffff cac9c90700".replace(" ", "")),  # section 7.2.3.5: two blocks
    ],
    ids=["compressed", "stored", "bfinal", "two-blocks"],
)
def test_rfc_7692_payloads_inflate_to_hello(payload: bytes) -> None:
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    assert receive(server, payload) == HELLO
    assert receive(server, HELLO_COMPRESSED) == HELLO  # and the stream is usable afterwards


def test_a_shared_window_message_inflates_after_its_predecessor() -> None:
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    assert receive(server, HELLO_COMPRESSED) == HELLO
    assert receive(server, HELLO_AGAIN_COMPRESSED) == HELLO


def test_a_shared_window_message_without_its_predecessor_is_a_protocol_error_1002() -> None:
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    with pytest.raises(ProtocolError) as info:
        receive(server, HELLO_AGAIN_COMPRESSED)
    assert type(info.value) is ProtocolError
    assert info.value.code == 1002
    assert str(info.value).startswith("permessage-deflate: invalid compressed data")


@pytest.mark.parametrize("garbage", [b"\xff\xff\xff", random.Random(7).randbytes(64), b"\x07"])
def test_corrupt_deflate_data_is_a_protocol_error_never_a_zlib_error(garbage: bytes) -> None:
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    try:
        receive(server, garbage)
    except ProtocolError as error:
        assert error.code == 1002
        assert not isinstance(error, zlib.error)


def test_the_empty_message_compresses_to_one_zero_byte_and_back() -> None:
    client, server = negotiate(PermessageDeflate(), PermessageDeflate())
    message = send(client, b"")
    assert message.data == b"\x00" and message.rsv1  # RFC 7692 section 7.2.3.6
    assert receive(server, message.data) == b""
    assert receive(server, send(client, HELLO).data) == HELLO


def test_a_message_without_rsv1_passes_through_uncompressed() -> None:
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    assert receive(server, b"plain", rsv1=False) == b"plain"


def test_messages_under_the_threshold_are_sent_uncompressed_and_the_peer_reads_both_kinds() -> None:
    client, server = negotiate(PermessageDeflate(threshold=16), PermessageDeflate())
    short = send(client, b"x" * 15)
    assert short == Message(Opcode.BINARY, b"x" * 15)
    long = send(client, b"y" * 16)
    assert long.rsv1 and long.data != b"y" * 16
    after = send(client, b"y" * 40)
    for message, data in ((short, b"x" * 15), (long, b"y" * 16), (after, b"y" * 40)):
        assert receive(server, message.data, rsv1=message.rsv1) == data


def test_control_frames_are_never_offered_to_the_extension() -> None:
    # The registry only transforms whole data messages; control frames bypass it (RFC 7692
    # section 6.1). The codec itself ignores the opcode, so the guarantee lives in the driver:
    # see test_permessage_deflate_driver.py for ping/pong/close staying uncompressed.
    client, _ = negotiate(PermessageDeflate(), PermessageDeflate())
    assert not client.valid_frame_rsv(Opcode.PING, True, False, False)
    assert not client.valid_frame_rsv(Opcode.CONTINUATION, True, False, False)
    assert client.valid_frame_rsv(Opcode.TEXT, True, False, False)


# -- max_length after inflating (the zip bomb the original let through) --------------------------


def zeros_compressed(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(bytes(size)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]


def test_exactly_max_length_inflates_and_one_byte_more_is_message_too_large_1009() -> None:
    payload = zeros_compressed(1000)
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    assert receive(server, payload, max_length=1000) == bytes(1000)
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    with pytest.raises(MessageTooLarge) as info:
        receive(server, payload, max_length=999)
    assert info.value.code == 1009
    assert str(info.value) == "permessage-deflate: inflated message exceeds max_length of 999 bytes"


def test_a_zip_bomb_raises_message_too_large_without_inflating_past_max_length() -> None:
    bomb = zeros_compressed(64 * 2**20)  # 64 MiB of zeros in about 64 KB
    assert len(bomb) < 100_000
    max_length = 2**20
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    session = server._active[0][1]
    produced: list[int] = []
    real_new = session._new_decompressor  # type: ignore[attr-defined]

    class Spy:
        """The real zlib decompressor, recording how many bytes each call returns."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def decompress(self, data: bytes, limit: int = 0) -> bytes:
            assert 0 < limit <= max_length + 1
            out: bytes = self.inner.decompress(data, limit)
            produced.append(len(out))
            return out

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    session._new_decompressor = lambda agreed, *history: Spy(real_new(agreed, *history))  # type: ignore[attr-defined]
    tracemalloc.start()
    try:
        with pytest.raises(MessageTooLarge):
            receive(server, bomb, max_length=max_length)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert produced and sum(produced) <= max_length + 1
    assert peak < 4 * max_length  # the whole message would be 64 times more


def test_max_length_zero_refuses_any_inflated_byte() -> None:
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    assert receive(server, b"\x00", max_length=0) == b""
    with pytest.raises(MessageTooLarge):
        receive(server, HELLO_COMPRESSED, max_length=0)


# -- window bits ---------------------------------------------------------------------------------


def test_window_bits_8_compresses_with_zlib_9_and_stays_readable_with_a_256_byte_window() -> None:
    client, server = negotiate(PermessageDeflate(request_max_window_bits=8), PermessageDeflate())
    assert server._active[0][1].parameters == DeflateParameters(own_window_bits=8)  # type: ignore[attr-defined]
    # repeats at distances of 200-300 bytes: a 512-byte window could reach them, 256 cannot
    data = b"".join(os.urandom(250) + b"0123456789" * 3 for _ in range(200))
    compressed = send(server, data).data
    strict = zlib.decompressobj(-8)  # what a strict peer with the agreed 256-byte window uses
    assert strict.decompress(compressed + b"\x00\x00\xff\xff") == data
    assert receive(client, compressed, max_length=len(data)) == data


@pytest.mark.parametrize("bits", range(8, 16))
def test_every_window_size_round_trips_both_ways(bits: int) -> None:
    client, server = negotiate(
        PermessageDeflate(max_window_bits=bits, request_max_window_bits=bits),
        PermessageDeflate(),
    )
    data = os.urandom(3000) * 3
    for _ in range(2):
        assert receive(server, send(client, data).data, max_length=len(data)) == data
        assert receive(client, send(server, data).data, max_length=len(data)) == data


# -- closing -------------------------------------------------------------------------------------


def test_after_close_outgoing_messages_go_uncompressed_and_compressed_input_is_refused() -> None:
    client, server = negotiate(PermessageDeflate(), PermessageDeflate())
    send(client, HELLO)
    client.close()
    client.close()
    assert send(client, HELLO) == Message(Opcode.BINARY, HELLO)
    with pytest.raises(ExtensionError, match="after the session was closed"):
        receive(client, HELLO_COMPRESSED)
    assert receive(client, b"plain", rsv1=False) == b"plain"
    server.close()


# -- random round trips --------------------------------------------------------------------------

_configs = st.builds(
    PermessageDeflate,
    level=st.sampled_from([-1, 0, 1, 6, 9]),
    mem_level=st.integers(1, 9),
    no_context_takeover=st.booleans(),
    max_window_bits=st.none() | st.integers(8, 15),
    request_no_context_takeover=st.booleans(),
    request_max_window_bits=st.none() | st.integers(8, 15),
    threshold=st.sampled_from([0, 0, 10]),
)
_messages = st.lists(
    st.binary(max_size=2000) | st.text(max_size=500).map(lambda text: text.encode() * 3),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(_configs, _configs, _messages, _messages)
def test_random_messages_round_trip_in_both_directions_under_any_configuration(
    client_config: PermessageDeflate,
    server_config: PermessageDeflate,
    upstream: list[bytes],
    downstream: list[bytes],
) -> None:
    client_ext, server_ext = Extensions(), Extensions()
    client_ext.add(client_config)
    server_ext.add(server_config)
    response = server_ext.generate_response(client_ext.generate_offer())
    assert response is not None  # our server can meet any offer our client makes
    client_ext.activate(response)
    for data in upstream:
        out = send(client_ext, data)
        assert receive(server_ext, out.data, rsv1=out.rsv1, max_length=len(data)) == data
    for data in downstream:
        out = send(server_ext, data)
        assert receive(client_ext, out.data, rsv1=out.rsv1, max_length=len(data)) == data


# -- inflation bounded in proportion to what was received (max_ratio) ---------------------------


def test_a_message_inflating_past_max_ratio_times_its_size_is_refused_before_inflating_it_all() -> None:
    bomb = zeros_compressed(60 * 2**20)  # 60 MiB in about 61 KB: a ratio of about 1000
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    with pytest.raises(MessageTooLarge) as info:
        receive(server, bomb, max_length=64 * 2**20)
    assert info.value.code == 1009
    assert "100 times its compressed size" in str(info.value)


def test_a_message_within_the_ratio_or_under_one_mib_inflates() -> None:
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    assert receive(server, zeros_compressed(2**20), max_length=2**21) == bytes(2**20)  # ratio ~1000
    text = os.urandom(1 << 15).hex().encode() * 8  # 512 KiB that compresses about 8 times
    client, server = negotiate(PermessageDeflate(), PermessageDeflate(max_ratio=10))
    assert receive(server, send(client, text).data, max_length=2**21) == text


def test_max_ratio_none_leaves_only_max_length() -> None:
    bomb = zeros_compressed(4 * 2**20)
    _, server = negotiate(PermessageDeflate(), PermessageDeflate(max_ratio=None))
    assert len(receive(server, bomb, max_length=4 * 2**20)) == 4 * 2**20


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_max_ratio_must_be_a_positive_int_or_none(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        PermessageDeflate(max_ratio=bad)  # type: ignore[arg-type]
