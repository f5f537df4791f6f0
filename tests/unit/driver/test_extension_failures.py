"""User extensions that raise (in create, activate, generate_response, offer or close): the drivers
turn each failure into a handshake failure (1010 on the client, 500 on the server) or a clean close,
never an exception out of start() or receive_data()."""

from __future__ import annotations

from typing import Sequence

import pytest

from faye_websocket.driver.client import ClientDriver
from faye_websocket.driver.frames import Opcode, serialize_close_payload
from faye_websocket.driver.server import ServerDriver
from faye_websocket.errors import HandshakeError
from faye_websocket.events import CloseEvent, ErrorEvent, ReadyState
from faye_websocket.extensions.base import Message, Params

from .drivers import client_frame, open_server, request_bytes, response_for


class _RaisingSession:
    def __init__(self, where: str) -> None:
        self.where = where

    def generate_offer(self) -> Params:
        return {}

    def activate(self, params: Params) -> bool:
        raise RuntimeError("activate failed")

    def generate_response(self) -> Params:
        raise RuntimeError("response failed")

    def process_incoming_message(self, message: Message, max_length: int) -> Message:
        return message

    def process_outgoing_message(self, message: Message) -> Message:
        return message

    def close(self) -> None:
        pass


class _RaisingExtension:
    name = "x-raising"
    type = "permessage"
    rsv1 = False
    rsv2 = True
    rsv3 = False

    def __init__(self, where: str) -> None:
        self.where = where

    def create_client_session(self) -> _RaisingSession:
        return _RaisingSession(self.where)

    def create_server_session(self, offers: Sequence[Params]) -> _RaisingSession:
        if self.where == "create":
            raise RuntimeError("create failed")
        return _RaisingSession(self.where)


def test_a_client_extension_raising_in_activate_fails_the_handshake_with_1010() -> None:
    client = ClientDriver("ws://example.com/", extensions=[_RaisingExtension("activate")])
    client.start()
    client.data_to_send()
    client.receive_data(response_for(client, "Sec-WebSocket-Extensions: x-raising"))
    events = client.events_received()
    assert [type(e) for e in events] == [ErrorEvent, CloseEvent]
    assert isinstance(events[1], CloseEvent) and events[1].code == 1010
    assert "activate failed" in events[1].reason
    assert client.state is ReadyState.CLOSED


@pytest.mark.parametrize("where", ["create", "response"])
def test_a_server_extension_raising_answers_500_not_an_exception(where: str) -> None:
    server = ServerDriver(None, extensions=[_RaisingExtension(where)])
    server.receive_data(request_bytes("Sec-WebSocket-Extensions: x-raising"))
    server.start()
    assert server.data_to_send().startswith(b"HTTP/1.1 500 ")
    events = server.events_received()
    assert [type(e) for e in events] == [ErrorEvent, CloseEvent]
    assert isinstance(events[0], ErrorEvent) and isinstance(events[0].error, HandshakeError)
    assert events[0].error.status == 500 and "x-raising: " in events[0].message


class _CloseRaisingSession(_RaisingSession):
    def activate(self, params: Params) -> bool:
        return True

    def generate_response(self) -> Params:
        return {}

    def close(self) -> None:
        raise RuntimeError("close failed")


class _CloseRaisingExtension(_RaisingExtension):
    name = "x-close-raising"

    def create_client_session(self) -> _RaisingSession:
        return _CloseRaisingSession(self.where)

    def create_server_session(self, offers: Sequence[Params]) -> _RaisingSession:
        return _CloseRaisingSession(self.where)


def test_an_extension_whose_close_raises_does_not_turn_the_close_into_an_exception() -> None:
    server = open_server("Sec-WebSocket-Extensions: x-close-raising", extensions=[_CloseRaisingExtension("")])
    server.receive_data(client_frame(Opcode.CLOSE, serialize_close_payload(1000, "")))
    assert server.events_received() == [CloseEvent(1000, "", True)]
    assert server.close_expected()


def test_an_unaccepted_client_extension_whose_close_raises_fails_the_handshake_cleanly() -> None:
    client = ClientDriver("ws://example.com/", extensions=[_CloseRaisingExtension("")])
    client.start()
    client.data_to_send()
    client.receive_data(response_for(client))
    events = client.events_received()
    assert [type(e) for e in events] == [ErrorEvent, CloseEvent]
    assert isinstance(events[1], CloseEvent) and events[1].code == 1010


class _OfferRaisingExtension(_RaisingExtension):
    name = "x-offer-raising"

    def create_client_session(self) -> _RaisingSession:
        if self.where == "create":
            raise RuntimeError("create failed")
        session = _RaisingSession(self.where)
        session.generate_offer = lambda: {"bad key": 1}  # type: ignore[method-assign]
        return session


@pytest.mark.parametrize("where", ["create", "offer"])
def test_a_client_extension_raising_while_offering_fails_the_connection_at_start(where: str) -> None:
    # start() runs on the client's connection thread: an exception there is no event at all.
    client = ClientDriver("ws://example.com/", extensions=[_OfferRaisingExtension(where)])
    client.start()
    assert client.data_to_send() == b""
    events = client.events_received()
    assert [type(e) for e in events] == [ErrorEvent, CloseEvent]
    assert isinstance(events[1], CloseEvent) and events[1].code == 1010
    assert client.handshake_error is not None and "x-offer-raising" in str(client.handshake_error)
    assert client.close_expected()
