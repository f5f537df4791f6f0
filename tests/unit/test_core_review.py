"""Review of the sans-I/O core against RFC 6455: defects found and fixed, each pinned by a test."""

from __future__ import annotations

import threading
from typing import Sequence

import pytest

from faye_websocket.driver.client import ClientDriver
from faye_websocket.driver.frames import Opcode, serialize_close_payload
from faye_websocket.driver.http import parse_request
from faye_websocket.driver.server import ServerDriver
from faye_websocket.errors import HandshakeError
from faye_websocket.events import CloseEvent, ErrorEvent, MessageEvent, OpenEvent, PingEvent, ReadyState
from faye_websocket.extensions.base import Message, Params

from .driver.drivers import client_frame, open_server, request_bytes, response_for, server_frame

# -- sends queued while CONNECTING ----------------------------------------------------------------


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


# -- pings after our close frame ---------------------------------------------------------------


def test_a_ping_received_after_our_close_frame_is_still_answered() -> None:
    # RFC 6455 section 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
    # in response, unless it already received a Close frame." Only a received close ends that
    # duty; the original (websocket-driver) answers in CLOSING too.
    server = open_server()
    server.close(1000, "bye")
    server.data_to_send()
    server.receive_data(client_frame(Opcode.PING, b"still there?"))
    assert server.events_received() == [PingEvent(b"still there?")]
    assert server.data_to_send() == server_frame(Opcode.PONG, b"still there?")
    server.receive_data(client_frame(Opcode.CLOSE, serialize_close_payload(1000, "bye")))
    assert server.events_received() == [CloseEvent(1000, "bye", True)]
    assert server.data_to_send() == b""


# -- server handshake: RFC 6455 section 4.2.1 --------------------------------------------------


def rejected(head: bytes) -> tuple[bytes, list[object]]:
    server = ServerDriver(None)
    server.receive_data(head)
    server.start()
    return server.data_to_send(), list(server.events_received())


def test_an_http_1_0_request_is_refused_with_400() -> None:
    # Section 4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    data, events = rejected(request_bytes().replace(b"HTTP/1.1", b"HTTP/1.0"))
    assert data.startswith(b"HTTP/1.1 400 ")
    assert [type(e) for e in events] == [ErrorEvent, CloseEvent]


@pytest.mark.parametrize("version", [b"HTTP/1.1", b"HTTP/2.0", b"HTTP/1.2"])
def test_http_1_1_and_higher_are_accepted(version: bytes) -> None:
    data, events = rejected(request_bytes().replace(b"HTTP/1.1", version))
    assert data.startswith(b"HTTP/1.1 101 ")
    assert events == [OpenEvent()]


@pytest.mark.parametrize("version", [b"HTTP/1.x", b"HTTP/", b"HTTP/0.9"])
def test_malformed_or_old_http_versions_are_refused(version: bytes) -> None:
    data, _ = rejected(request_bytes().replace(b"HTTP/1.1", version))
    assert data.startswith(b"HTTP/1.1 400 ")


def test_a_request_without_host_is_refused_with_400() -> None:
    # Section 4.2.1 item 2: the request MUST have a Host header field.
    data, events = rejected(request_bytes().replace(b"Host: example.com\r\n", b""))
    assert data.startswith(b"HTTP/1.1 400 ") and b"Host" in data
    assert [type(e) for e in events] == [ErrorEvent, CloseEvent]


def test_an_absolute_form_target_gives_the_url_of_the_resource() -> None:
    # RFC 9112 section 3.2.2: a server MUST accept the absolute-form; its authority and path
    # are those of the resource, not something to append to the Host header.
    server = ServerDriver(None)
    server.receive_data(request_bytes().replace(b"GET /chat?room=1", b"GET http://example.com/chat?room=1"))
    server.start()
    assert server.data_to_send().startswith(b"HTTP/1.1 101 ")
    assert server.url == "ws://example.com/chat?room=1"


def test_an_absolute_form_target_without_a_path_is_the_root() -> None:
    server = ServerDriver(parse_request(request_bytes().replace(b"GET /chat?room=1", b"GET ws://example.com:8080")
                                        .split(b"\r\n\r\n")[0]), secure=True)
    assert server.url == "wss://example.com:8080/"


# -- user extensions that raise ------------------------------------------------------------------


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


# -- over real sockets: the raw socketserver path ----------------------------------------------


def test_socketserver_handler_send_in_setup_websocket_reaches_the_client() -> None:
    from faye_websocket import Client
    from faye_websocket.server.socketserver import ThreadingWebSocketServer, WebSocketRequestHandler

    sent: list[bool] = []

    class Greeter(WebSocketRequestHandler):
        def setup_websocket(self, websocket):  # type: ignore[no-untyped-def]
            sent.append(websocket.send("welcome"))

    server = ThreadingWebSocketServer(("127.0.0.1", 0), Greeter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = Client(f"ws://127.0.0.1:{server.server_address[1]}/")
        try:
            assert client.recv(timeout=5) == "welcome"
        finally:
            client.close()
        assert sent == [True]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- what the handshakes write is bytes of RFC 3986 / RFC 9110 ---------------------------------


@pytest.mark.parametrize(
    ("url", "request_line", "host"),
    [
        ("ws://bücher.example/ü?q=é", b"GET /%C3%BC?q=%C3%A9 HTTP/1.1", b"Host: xn--bcher-kva.example"),
        ("ws://例え.jp:8080/パス", b"GET /%E3%83%91%E3%82%B9 HTTP/1.1", b"Host: xn--r8jz45g.jp:8080"),
        ("ws://h/a%20b?x=%C3%A9", b"GET /a%20b?x=%C3%A9 HTTP/1.1", b"Host: h"),
    ],
)
def test_an_iri_is_sent_as_a_uri(url: str, request_line: bytes, host: bytes) -> None:
    # RFC 6455 section 3: a ws URI is an RFC 3986 URI, ASCII only. Non-ASCII paths went out as
    # raw latin-1 bytes, and a host or path beyond latin-1 raised UnicodeEncodeError in start().
    client = ClientDriver(url)
    client.start()
    lines = client.data_to_send().split(b"\r\n")
    assert lines[0] == request_line
    assert lines[1] == host
    assert client.url == url


def test_a_host_that_idna_refuses_is_a_value_error_at_construction() -> None:
    with pytest.raises(ValueError):
        ClientDriver("ws://ü" + "a" * 70 + ".example/")


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


@pytest.mark.parametrize("code", [b"1\xb21", b"\xb9\xb2\xb3", b"10\xbd"])
def test_a_status_code_of_non_ascii_digits_fails_the_handshake_cleanly(code: bytes) -> None:
    # "²".isdigit() is True but int("²") raises: the ValueError escaped receive_data.
    client = ClientDriver("ws://example.com/")
    client.start()
    client.data_to_send()
    client.receive_data(b"HTTP/1.1 " + code + b" Switching Protocols\r\n\r\n")
    events = client.events_received()
    assert [type(e) for e in events] == [ErrorEvent, CloseEvent]
    assert client.handshake_error is not None


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


def test_a_101_with_obs_fold_is_unfolded_not_refused() -> None:
    # RFC 9112 section 5.2: a user agent receiving obs-fold in a response MUST replace it with
    # SP before interpreting the value (only servers may refuse it in requests, with 400).
    client = ClientDriver("ws://example.com/", ["chat"])
    client.start()
    client.data_to_send()
    folded = b"Connection: keep-alive,\r\n \t Upgrade\r\n"
    head = response_for(client).replace(b"Connection: Upgrade\r\n", folded)
    client.receive_data(head)
    assert client.events_received() == [OpenEvent()]
    assert client.headers["Connection"] == "keep-alive, Upgrade"


def test_obs_fold_on_the_first_response_field_fails_the_handshake() -> None:
    client = ClientDriver("ws://example.com/")
    client.start()
    client.data_to_send()
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n Upgrade: websocket\r\n\r\n")
    assert [type(e) for e in client.events_received()] == [ErrorEvent, CloseEvent]


def test_obs_fold_in_a_request_is_still_refused_with_400() -> None:
    data, _ = rejected(request_bytes("X-Long: a", " b"))
    assert data.startswith(b"HTTP/1.1 400 ")
