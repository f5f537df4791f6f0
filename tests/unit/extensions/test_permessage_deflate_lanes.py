"""permessage-deflate's bytes-level lane and its idle compressors: same bytes, same errors.

``Extensions.incoming_payload``/``outgoing_payload`` call the session's ``inflate``/``deflate``
directly when permessage-deflate is the only session; a message compressed without context
takeover goes through ``deflate_alone``, which reuses idle compressors. Each must behave exactly
as the Message fold and a new compressor per message did (RFC 7692 sections 7.1.1 and 7.2).
"""

from __future__ import annotations

import os
import random
import threading
import zlib
from typing import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faye_websocket.errors import ExtensionError, MessageTooLarge, ProtocolError
from faye_websocket.extensions import Extensions, Message, Params, PermessageDeflate
from faye_websocket.extensions.permessage_deflate import (
    JOIN_TAIL_SIZE,
    MAX_IDLE_COMPRESSORS,
    TAIL,
    DeflateServerSession,
    _idle_compressors,
    deflate_alone,
    deflate_message,
    new_compressor,
)
from faye_websocket.rfc6455 import RSV1_BIT, Opcode

DEADLINE = 10.0  # seconds; every wait in this module is bounded by it
HELLO = b"Hello"
HELLO_COMPRESSED = bytes.fromhex("f248cdc9c90700")  # RFC 7692 section 7.2.3.1
ZLIB_LOOKAHEAD = 262  # zlib's MIN_LOOKAHEAD: deflate's distances stay within window - 262
DEFAULTS = (zlib.Z_DEFAULT_COMPRESSION, 8, zlib.Z_DEFAULT_STRATEGY)  # level, mem_level, strategy


def negotiate(client: PermessageDeflate, server: PermessageDeflate) -> tuple[Extensions, Extensions]:
    """A client and a server registry that have completed the handshake with each other."""
    client_ext, server_ext = Extensions(), Extensions()
    client_ext.add(client)
    server_ext.add(server)
    client_ext.activate(server_ext.generate_response(client_ext.generate_offer()))
    return client_ext, server_ext


def alone(data: bytes, window_bits: int = 15) -> bytes:
    """What a new compressor makes of ``data`` (the behaviour deflate_alone must keep)."""
    return deflate_message(new_compressor(*DEFAULTS, window_bits), data)


def inflate_alone(data: bytes, window_bits: int) -> bytes:
    """A strict peer's inflating with the agreed window and no history."""
    return zlib.decompressobj(-max(window_bits, 9)).decompress(data + TAIL)


# -- deflate_alone: the bytes of a new compressor ------------------------------------------------

_settings = st.tuples(
    st.sampled_from([-1, 0, 1, 6, 9]),
    st.integers(1, 9),
    st.sampled_from([zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE,
                     zlib.Z_FIXED]),
    st.integers(8, 15),
)
_payloads = st.lists(
    st.binary(max_size=3000) | st.text(max_size=800).map(lambda text: text.encode() * 4),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(_settings, _payloads)
def test_deflate_alone_makes_the_bytes_of_a_new_compressor(
    compressor_settings: tuple[int, int, int, int], payloads: list[bytes]
) -> None:
    for data in payloads:
        fresh = deflate_message(new_compressor(*compressor_settings), data)
        assert deflate_alone(compressor_settings, data) == fresh


def test_deflate_alone_forgets_long_messages_that_slid_the_window() -> None:
    repeated = os.urandom(20_000)
    big = repeated * 8  # longer than twice the 32 KiB window: zlib slides it within the message
    settings_ = (*DEFAULTS, 15)
    for data in (big, repeated, big[:5000], repeated):
        assert deflate_alone(settings_, data) == alone(data)


def test_idle_compressors_are_bounded_and_shared_by_threads_without_mixing_messages() -> None:
    settings_ = (1, 7, zlib.Z_DEFAULT_STRATEGY, 11)  # settings no other test uses
    messages = [random.Random(seed).randbytes(300) * 5 for seed in range(40)]
    expected = [deflate_message(new_compressor(*settings_), data) for data in messages]
    failures: list[str] = []
    start = threading.Barrier(8, timeout=DEADLINE)

    def worker(offset: int) -> None:
        start.wait()
        for index in range(len(messages)):
            pick = (index + offset) % len(messages)
            if deflate_alone(settings_, messages[pick]) != expected[pick]:
                failures.append(f"message {pick}")

    threads = [threading.Thread(target=worker, args=(n * 5,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert 1 <= len(_idle_compressors[settings_]) <= MAX_IDLE_COMPRESSORS


# -- no context takeover on both sides, every window ----------------------------------------------


@pytest.mark.parametrize("bits", range(8, 16))
def test_no_context_takeover_on_both_sides_compresses_every_message_alone_at_every_window(bits: int) -> None:
    client, server = negotiate(
        PermessageDeflate(no_context_takeover=True, request_no_context_takeover=True, max_window_bits=bits,
                          request_max_window_bits=bits),
        PermessageDeflate(),
    )
    data = b"".join(os.urandom(200) + b"0123456789" * 4 for _ in range(50))
    for sender, receiver in ((client, server), (server, client)):
        for _ in range(3):
            flags, compressed = sender.outgoing_payload(Opcode.BINARY, data)
            assert flags == RSV1_BIT | Opcode.BINARY
            assert compressed == alone(data, bits)  # the same bytes each time: no history
            assert inflate_alone(compressed, bits) == data  # a strict peer with that window reads it
            assert receiver.incoming_payload(Opcode.BINARY, compressed, True, len(data)) == data
            # and a message that refers back to the previous one is refused: no shared window
            shared = new_compressor(*DEFAULTS, bits)
            deflate_message(shared, data)
            with pytest.raises(ProtocolError):
                receiver.incoming_payload(Opcode.BINARY, deflate_message(shared, data), True, len(data))


# -- a message that failed ------------------------------------------------------------------------


@pytest.mark.parametrize("offer", [{}, {"no_context_takeover": True}], ids=["takeover", "no-takeover"])
@pytest.mark.parametrize("failure", ["corrupt", "too-large"])
def test_after_a_message_that_failed_the_next_one_inflates_from_a_new_stream(
    offer: dict[str, bool], failure: str
) -> None:
    client, server = negotiate(PermessageDeflate(**offer), PermessageDeflate())
    _, compressed = client.outgoing_payload(Opcode.TEXT, HELLO)
    assert server.incoming_payload(Opcode.TEXT, compressed, True, 100) == HELLO
    if failure == "corrupt":
        with pytest.raises(ProtocolError) as info:
            server.incoming_payload(Opcode.TEXT, b"\xff\xff\xff", True, 100)
        assert str(info.value).startswith("permessage-deflate: invalid compressed data")
    else:
        with pytest.raises(MessageTooLarge):
            server.incoming_payload(Opcode.TEXT, alone(bytes(1000)), True, 999)
    assert server.incoming_payload(Opcode.TEXT, HELLO_COMPRESSED, True, 100) == HELLO
    assert server.incoming_payload(Opcode.TEXT, HELLO_COMPRESSED, True, 100) == HELLO


# -- the lane and the fold agree ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 100, JOIN_TAIL_SIZE - 1000, JOIN_TAIL_SIZE + 1000])
@pytest.mark.parametrize("view", [False, True], ids=["bytes", "memoryview"])
def test_inflate_bounds_every_size_whether_the_tail_is_joined_or_fed_apart(size: int, view: bool) -> None:
    data = os.urandom(size)  # random bytes: the compressed size is about the message's
    compressed = alone(data)
    assert (len(compressed) > JOIN_TAIL_SIZE) == (size > JOIN_TAIL_SIZE)
    payload: bytes = memoryview(compressed) if view else compressed  # type: ignore[assignment]
    _, server = negotiate(PermessageDeflate(no_context_takeover=True), PermessageDeflate())
    assert server.incoming_payload(Opcode.BINARY, payload, True, size) == data
    if size:
        with pytest.raises(MessageTooLarge, match="exceeds max_length"):
            server.incoming_payload(Opcode.BINARY, payload, True, size - 1)


def test_the_lane_gives_what_the_message_fold_gives() -> None:
    lane_client, lane_server = negotiate(PermessageDeflate(threshold=3), PermessageDeflate())
    fold_client, fold_server = negotiate(PermessageDeflate(threshold=3), PermessageDeflate())
    for data in (HELLO, b"ab", HELLO, b"", os.urandom(500), HELLO):
        flags, payload = lane_client.outgoing_payload(Opcode.TEXT, data)
        message = fold_client.process_outgoing_message(Message(Opcode.TEXT, data))
        assert (flags, payload) == ((RSV1_BIT if message.rsv1 else 0) | Opcode.TEXT, message.data)
        rsv1 = bool(flags & RSV1_BIT)
        inflated = fold_server.process_incoming_message(Message(Opcode.TEXT, payload, rsv1), 1000).data
        assert lane_server.incoming_payload(Opcode.TEXT, payload, rsv1, 1000) == inflated == data


def test_the_lane_after_close_sends_uncompressed_and_refuses_compressed_input_by_name() -> None:
    client, _ = negotiate(PermessageDeflate(), PermessageDeflate())
    client.close()
    assert client.outgoing_payload(Opcode.BINARY, HELLO) == (Opcode.BINARY, HELLO)
    assert client.incoming_payload(Opcode.BINARY, b"plain", False, 100) == b"plain"
    with pytest.raises(ExtensionError, match="^permessage-deflate: received a compressed message after"):
        client.incoming_payload(Opcode.BINARY, HELLO_COMPRESSED, True, 100)


def test_an_unexpected_error_in_the_lane_is_an_extension_error_naming_the_extension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, server = negotiate(PermessageDeflate(), PermessageDeflate())
    session = server._active[0][1]

    def broken(*_: object) -> bytes:
        raise ValueError("broken")

    monkeypatch.setattr(session, "inflate", broken)
    monkeypatch.setattr(session, "deflate", broken)
    with pytest.raises(ExtensionError, match="^permessage-deflate: broken$"):
        server.incoming_payload(Opcode.BINARY, HELLO_COMPRESSED, True, 100)
    with pytest.raises(ExtensionError, match="^permessage-deflate: broken$"):
        server.outgoing_payload(Opcode.BINARY, HELLO)


class _CountingSession(DeflateServerSession):
    """A user's subclass: its own process_*_message must still be called."""

    calls = 0

    def process_incoming_message(self, message: Message, max_length: int) -> Message:
        type(self).calls += 1
        return super().process_incoming_message(message, max_length)

    def process_outgoing_message(self, message: Message) -> Message:
        type(self).calls += 1
        return super().process_outgoing_message(message)


class _CountingDeflate(PermessageDeflate):
    def create_server_session(self, offers: Sequence[Params]) -> DeflateServerSession | None:
        return _CountingSession(self._options, offers[0])


def test_a_subclassed_session_is_called_through_its_message_methods() -> None:
    client, server = negotiate(PermessageDeflate(), _CountingDeflate())
    flags, payload = server.outgoing_payload(Opcode.TEXT, HELLO)
    assert (flags, payload) == (RSV1_BIT | Opcode.TEXT, HELLO_COMPRESSED)
    _, compressed = client.outgoing_payload(Opcode.TEXT, HELLO)
    assert server.incoming_payload(Opcode.TEXT, compressed, True, 9) == HELLO
    assert _CountingSession.calls == 2


# -- the history kept for a stream that ends (RFC 7692 section 7.2.3.4) ---------------------------


@pytest.mark.parametrize("bits", [9, 12, 15])
def test_after_many_messages_a_bfinal_stream_continues_from_the_last_window(bits: int) -> None:
    # The history is trimmed only once it holds two windows: at whatever point of that cycle a
    # stream ends, the next one must start with exactly the last window inflated so far.
    window = 1 << bits
    rng = random.Random(bits)
    _, server = negotiate(PermessageDeflate(max_window_bits=bits), PermessageDeflate())  # the peer's
    session = server._active[0][1]
    assert session.parameters.peer_window_bits == bits  # type: ignore[attr-defined]
    peer = zlib.compressobj(6, zlib.DEFLATED, -bits)
    received = b""
    for count in range(1, 18):  # streams of 1 to 17 messages of 1/8 window: every phase
        for _ in range(count):
            data = rng.randbytes(window // 8)  # random: a repeat can only be a reference back
            received += data
            compressed = (peer.compress(data) + peer.flush(zlib.Z_SYNC_FLUSH))[: -len(TAIL)]
            assert server.incoming_payload(Opcode.BINARY, compressed, True, window) == data
            assert session._window_history(session.parameters) == received[-window:]  # type: ignore[attr-defined]
        final = peer.compress(b"") + peer.flush(zlib.Z_FINISH)  # ends the stream: BFINAL
        assert server.incoming_payload(Opcode.BINARY, final, True, window) == b""
        peer = zlib.compressobj(6, zlib.DEFLATED, -bits, zdict=received[-window:])
        # The first message of the next stream refers back as far as zlib reaches: the window
        # less its lookahead (MIN_LOOKAHEAD, 262 bytes).
        data = received[-window + ZLIB_LOOKAHEAD :][:100]
        received += data
        compressed = (peer.compress(data) + peer.flush(zlib.Z_SYNC_FLUSH))[: -len(TAIL)]
        assert len(compressed) < len(data) // 2  # it did refer back
        assert server.incoming_payload(Opcode.BINARY, compressed, True, window) == data
