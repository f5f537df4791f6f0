"""permessage-deflate's options and the negotiation of its four parameters (RFC 7692 section 7.1)."""

from __future__ import annotations

from typing import Any

import pytest

from faye_websocket.errors import ExtensionError
from faye_websocket.extensions import Extensions, PermessageDeflate
from faye_websocket.extensions.permessage_deflate import DeflateParameters

PMD = "permessage-deflate"


def server_answer(header: str, **options: Any) -> tuple[str | None, DeflateParameters | None]:
    """The server's Sec-WebSocket-Extensions answer to ``header`` and what it agreed."""
    ext = Extensions()
    ext.add(PermessageDeflate(**options))
    response = ext.generate_response(header)
    agreed = ext._active[0][1].parameters if ext.has_sessions else None  # type: ignore[attr-defined]
    return response, agreed


def client_accepting(response: str | None, **options: Any) -> Extensions:
    """A client registry that offered permessage-deflate with ``options`` and got ``response``."""
    ext = Extensions()
    ext.add(PermessageDeflate(**options))
    ext.generate_offer()
    ext.activate(response)
    return ext


def agreed_by(ext: Extensions) -> DeflateParameters:
    parameters = ext._active[0][1].parameters  # type: ignore[attr-defined]
    assert isinstance(parameters, DeflateParameters)
    return parameters


# -- options ---------------------------------------------------------------------------------------


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        PermessageDeflate(window_bits=10)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"level": 10}, ValueError),
        ({"level": -2}, ValueError),
        ({"level": "9"}, TypeError),
        ({"mem_level": 0}, ValueError),
        ({"mem_level": 10}, ValueError),
        ({"strategy": 42}, ValueError),
        ({"no_context_takeover": 1}, TypeError),
        ({"request_no_context_takeover": "yes"}, TypeError),
        ({"max_window_bits": 7}, ValueError),
        ({"max_window_bits": 16}, ValueError),
        ({"max_window_bits": True}, TypeError),
        ({"request_max_window_bits": 16}, ValueError),
        ({"request_max_window_bits": 10.0}, TypeError),
        ({"threshold": -1}, ValueError),
    ],
)
def test_invalid_option_values_are_refused(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        PermessageDeflate(**options)


def test_the_extension_identifies_itself_as_permessage_on_rsv1() -> None:
    ext = PermessageDeflate(level=9)
    assert (ext.name, ext.type, ext.rsv1, ext.rsv2, ext.rsv3) == (PMD, "permessage", True, False, False)
    assert "level=9" in repr(ext)


# -- the client's offer -----------------------------------------------------------------------------


def test_default_client_offer_is_exactly_client_max_window_bits() -> None:
    ext = Extensions()
    ext.add(PermessageDeflate())
    assert ext.generate_offer() == "permessage-deflate; client_max_window_bits"


def test_client_offer_carries_every_configured_parameter() -> None:
    ext = Extensions()
    ext.add(
        PermessageDeflate(
            no_context_takeover=True,
            max_window_bits=10,
            request_no_context_takeover=True,
            request_max_window_bits=12,
        )
    )
    assert ext.generate_offer() == (
        "permessage-deflate; client_no_context_takeover; client_max_window_bits=10; "
        "server_no_context_takeover; server_max_window_bits=12"
    )


# -- the server's answer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offer", "options", "response", "agreed"),
    [
        (PMD, {}, PMD, DeflateParameters()),
        (f"{PMD}; client_max_window_bits", {}, PMD, DeflateParameters()),
        (
            f"{PMD}; server_no_context_takeover",
            {},
            f"{PMD}; server_no_context_takeover",
            DeflateParameters(own_context_takeover=False),
        ),
        (
            f"{PMD}; client_no_context_takeover",
            {},
            f"{PMD}; client_no_context_takeover",
            DeflateParameters(peer_context_takeover=False),
        ),
        (
            PMD,
            {"no_context_takeover": True},
            f"{PMD}; server_no_context_takeover",
            DeflateParameters(own_context_takeover=False),
        ),
        (
            PMD,
            {"request_no_context_takeover": True},
            f"{PMD}; client_no_context_takeover",
            DeflateParameters(peer_context_takeover=False),
        ),
        (
            f"{PMD}; server_max_window_bits=10",
            {},
            f"{PMD}; server_max_window_bits=10",
            DeflateParameters(own_window_bits=10),
        ),
        (
            f"{PMD}; server_max_window_bits=15",
            {},
            f"{PMD}; server_max_window_bits=15",
            DeflateParameters(),
        ),
        (
            f'{PMD}; server_max_window_bits="12"',
            {"max_window_bits": 10},
            f"{PMD}; server_max_window_bits=10",
            DeflateParameters(own_window_bits=10),
        ),
        (
            f"{PMD}; server_max_window_bits=9",
            {"max_window_bits": 10},
            f"{PMD}; server_max_window_bits=9",
            DeflateParameters(own_window_bits=9),
        ),
        # Firefox fails on an unsolicited server_max_window_bits: the server limits itself silently
        (PMD, {"max_window_bits": 10}, PMD, DeflateParameters(own_window_bits=10)),
        (
            f"{PMD}; client_max_window_bits=10",
            {},
            f"{PMD}; client_max_window_bits=10",
            DeflateParameters(peer_window_bits=10),
        ),
        (
            f"{PMD}; client_max_window_bits",
            {"request_max_window_bits": 9},
            f"{PMD}; client_max_window_bits=9",
            DeflateParameters(peer_window_bits=9),
        ),
        (
            f"{PMD}; client_max_window_bits=12",
            {"request_max_window_bits": 10},
            f"{PMD}; client_max_window_bits=10",
            DeflateParameters(peer_window_bits=10),
        ),
        (
            f"{PMD}; client_max_window_bits=9",
            {"request_max_window_bits": 10},
            f"{PMD}; client_max_window_bits=9",
            DeflateParameters(peer_window_bits=9),
        ),
        # a client that did not offer client_max_window_bits cannot be limited: it keeps 15
        (PMD, {"request_max_window_bits": 9}, PMD, DeflateParameters()),
    ],
)
def test_server_answers_each_parameter_per_rfc_7692(
    offer: str, options: dict[str, Any], response: str, agreed: DeflateParameters
) -> None:
    assert server_answer(offer, **options) == (response, agreed)


@pytest.mark.parametrize(
    "params",
    [
        "unknown_param",
        "server_no_context_takeover; server_no_context_takeover",
        "client_max_window_bits=10; client_max_window_bits=11",
        "server_no_context_takeover=1",
        'client_no_context_takeover="x"',
        "server_max_window_bits",
        "server_max_window_bits=7",
        "server_max_window_bits=16",
        "server_max_window_bits=08",
        "server_max_window_bits=abc",
        "client_max_window_bits=7",
        "client_max_window_bits=16",
        'client_max_window_bits="x"',
    ],
)
def test_server_declines_an_offer_with_invalid_or_repeated_params(params: str) -> None:
    assert server_answer(f"{PMD}; {params}") == (None, None)


def test_server_picks_the_first_acceptable_offer_in_the_clients_order() -> None:
    offers = f"{PMD}; bogus, {PMD}; server_max_window_bits=10, {PMD}; server_no_context_takeover"
    expected = (f"{PMD}; server_max_window_bits=10", DeflateParameters(own_window_bits=10))
    assert server_answer(offers) == expected


def test_server_ignores_other_extensions_and_answers_only_its_own() -> None:
    assert server_answer(f"x-webkit-deflate-frame, {PMD}; client_max_window_bits")[0] == PMD


# -- the client's check of the answer ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "response", "agreed"),
    [
        ({}, PMD, DeflateParameters()),
        ({}, f"{PMD}; server_no_context_takeover", DeflateParameters(peer_context_takeover=False)),
        ({}, f"{PMD}; client_no_context_takeover", DeflateParameters(own_context_takeover=False)),
        ({}, f"{PMD}; server_max_window_bits=10", DeflateParameters(peer_window_bits=10)),
        ({}, f"{PMD}; client_max_window_bits=8", DeflateParameters(own_window_bits=8)),
        ({"no_context_takeover": True}, PMD, DeflateParameters(own_context_takeover=False)),
        ({"max_window_bits": 12}, PMD, DeflateParameters(own_window_bits=12)),
        ({"max_window_bits": 12}, f"{PMD}; client_max_window_bits=12", DeflateParameters(own_window_bits=12)),
        ({"max_window_bits": 12}, f"{PMD}; client_max_window_bits=9", DeflateParameters(own_window_bits=9)),
        (
            {"request_no_context_takeover": True},
            f"{PMD}; server_no_context_takeover",
            DeflateParameters(peer_context_takeover=False),
        ),
        (
            {"request_max_window_bits": 10},
            f"{PMD}; server_max_window_bits=10",
            DeflateParameters(peer_window_bits=10),
        ),
        (
            {"request_max_window_bits": 10},
            f"{PMD}; server_max_window_bits=8",
            DeflateParameters(peer_window_bits=8),
        ),
    ],
)
def test_client_accepts_answers_that_meet_its_offer(
    options: dict[str, Any], response: str, agreed: DeflateParameters
) -> None:
    assert agreed_by(client_accepting(response, **options)) == agreed


@pytest.mark.parametrize(
    ("options", "params"),
    [
        ({}, "unknown_param"),
        ({}, "client_max_window_bits"),  # section 7.1.2.2: the answer must carry a value
        ({}, "client_max_window_bits=16"),
        ({}, "server_max_window_bits=7"),
        ({}, "server_max_window_bits"),
        ({}, "server_no_context_takeover; server_no_context_takeover"),
        ({}, "server_no_context_takeover=1"),
        ({"max_window_bits": 10}, "client_max_window_bits=11"),
        ({"request_no_context_takeover": True}, ""),
        ({"request_max_window_bits": 10}, ""),
        ({"request_max_window_bits": 10}, "server_max_window_bits=11"),
    ],
)
def test_client_refuses_answers_that_break_its_offer_with_an_extension_error(
    options: dict[str, Any], params: str
) -> None:
    response = f"{PMD}; {params}" if params else PMD
    with pytest.raises(ExtensionError) as info:
        client_accepting(response, **options)
    assert str(info.value).startswith("Server sent unacceptable extension parameters: permessage-deflate")
    assert info.value.code == 1010


def test_client_refuses_two_deflate_answers() -> None:
    with pytest.raises(ExtensionError, match="RSV1|two extension responses"):
        client_accepting(f"{PMD}, {PMD}")


def test_client_without_an_answer_runs_uncompressed() -> None:
    assert not client_accepting(None).has_sessions


def test_every_client_configuration_is_accepted_by_our_server() -> None:
    for options in (
        {},
        {"no_context_takeover": True},
        {"max_window_bits": 8},
        {"request_no_context_takeover": True},
        {"request_max_window_bits": 8},
        {"request_max_window_bits": 15, "max_window_bits": 15},
    ):
        client = Extensions()
        client.add(PermessageDeflate(**options))  # type: ignore[arg-type]
        server = Extensions()
        server.add(PermessageDeflate(max_window_bits=11, request_max_window_bits=9))
        client.activate(server.generate_response(client.generate_offer()))
        assert client.names == [PMD]
