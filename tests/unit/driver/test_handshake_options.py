"""Options both drivers write into a handshake head, checked when given: extra header values (latin-1
only, RFC 9110 section 5.5) and subprotocol names (tokens, RFC 6455 section 4.1)."""

from __future__ import annotations

import pytest

from faye_websocket.driver.client import ClientDriver
from faye_websocket.driver.server import ServerDriver

from .drivers import request_bytes


@pytest.mark.parametrize("value", ["€uro", "\u2028"])
def test_header_values_beyond_latin1_are_refused_when_given(value: str) -> None:
    # They cannot be written in a head: the server used to raise UnicodeEncodeError from
    # start() on its reading thread, the client from start().
    with pytest.raises(ValueError):
        ServerDriver(None, headers={"X-Currency": value})
    with pytest.raises(ValueError):
        ClientDriver("ws://example.com/", headers={"X-Currency": value})
    with pytest.raises(ValueError):
        ClientDriver("ws://example.com/", origin="http://" + value)


def test_latin1_header_values_are_still_written_as_latin1() -> None:
    server = ServerDriver(None, headers={"X-Name": "café"})
    server.receive_data(request_bytes())
    server.start()
    assert b"X-Name: caf\xe9\r\n" in server.data_to_send()


@pytest.mark.parametrize("protocols", [["a;b"], ["caf\xe9"], ["x\u20ac"], "a b, c", ['"q"'], ["a/b"]])
def test_subprotocol_names_must_be_tokens(protocols: object) -> None:
    # RFC 6455 section 4.1 item 10: characters U+0021 to U+007E, no separators (a token).
    with pytest.raises(ValueError):
        ClientDriver("ws://example.com/", protocols)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ServerDriver(None, protocols=protocols)  # type: ignore[arg-type]


def test_subprotocol_tokens_in_either_form_are_accepted() -> None:
    client = ClientDriver("ws://example.com/", "chat, v2.irc-x")
    assert b"Sec-WebSocket-Protocol: chat, v2.irc-x\r\n" in client.request_head()
