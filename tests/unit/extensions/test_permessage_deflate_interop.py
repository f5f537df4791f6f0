"""Our permessage-deflate against the independent implementation in python ``websockets``.

Both are sans-I/O, so negotiation headers and compressed payloads cross between them directly:
websockets' factories read our offers and answers, and each side inflates what the other
compressed, under every parameter combination.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame as TheirFrame
from websockets.frames import Opcode as TheirOpcode
from websockets.headers import build_extension, parse_extension

from faye_websocket.driver.frames import Opcode
from faye_websocket.extensions import Extensions, Message, PermessageDeflate

MESSAGES = [b"", b"Hello", b"Hello", os.urandom(5000), b'{"type":"tick","n":1}' * 200, bytes(70000)]


def their_header_params(header: str) -> list[tuple[str, str | None]]:
    [(name, params)] = parse_extension(header)
    assert name == "permessage-deflate"
    return params  # type: ignore[return-value]


def exchange(ours: Extensions, theirs: PerMessageDeflate) -> None:
    """Every message both ways; context takeover means order matters, so keep one stream each."""
    for data in MESSAGES:
        out = ours.process_outgoing_message(Message(Opcode.BINARY, data))
        assert out.rsv1
        decoded = theirs.decode(TheirFrame(TheirOpcode.BINARY, out.data, rsv1=True), max_size=None)
        assert decoded.data == data
        frame = theirs.encode(TheirFrame(TheirOpcode.BINARY, data))
        inflated = ours.process_incoming_message(Message(Opcode.BINARY, frame.data, rsv1=frame.rsv1), 10**6)
        assert inflated.data == data


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"no_context_takeover": True},
        {"max_window_bits": 9},
        {"max_window_bits": 8},
        {"request_no_context_takeover": True},
        {"request_max_window_bits": 10},
        {"request_max_window_bits": 9, "level": 1, "mem_level": 3},  # websockets refuses to use 8
    ],
)
def test_our_client_negotiates_and_exchanges_with_their_server(options: dict[str, Any]) -> None:
    ours = Extensions()
    ours.add(PermessageDeflate(**options))
    offer = ours.generate_offer()
    assert offer is not None
    factory = ServerPerMessageDeflateFactory()
    response_params, theirs = factory.process_request_params(their_header_params(offer), [])
    ours.activate(build_extension([("permessage-deflate", response_params)]))
    exchange(ours, theirs)


@pytest.mark.parametrize(
    "their_options",
    [
        {},
        {"client_max_window_bits": None},
        {"client_max_window_bits": 10},
        {"server_max_window_bits": 12, "client_max_window_bits": 12},  # websockets' default client
        {"server_max_window_bits": 8},
        {"server_no_context_takeover": True},
        {"client_no_context_takeover": True},
    ],
)
@pytest.mark.parametrize("our_options", [{}, {"max_window_bits": 10, "request_max_window_bits": 9}])
def test_their_client_negotiates_and_exchanges_with_our_server(
    their_options: dict[str, Any], our_options: dict[str, Any]
) -> None:
    factory = ClientPerMessageDeflateFactory(**their_options)
    offer = build_extension([("permessage-deflate", factory.get_request_params())])
    ours = Extensions()
    ours.add(PermessageDeflate(**our_options))
    response = ours.generate_response(offer)
    assert response is not None
    theirs = factory.process_response_params(their_header_params(response), [])
    exchange(ours, theirs)


def test_our_server_answers_websockets_default_offer_like_a_known_good_server() -> None:
    # components.md: Chromium's offer answered by websockets' server with 12-bit windows; ours
    # answers the same offer without inventing a server window limit.
    offer = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    ours = Extensions()
    ours.add(PermessageDeflate())
    assert ours.generate_response(offer) == (
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    )
