"""The client side of the opening handshake: the request, the 101 checks, leftover bytes."""

from __future__ import annotations

import base64

import pytest

from faye_websocket.driver.client import ClientDriver
from faye_websocket.driver.frames import Opcode
from faye_websocket.driver.http import parse_request
from faye_websocket.driver.url import parse_url
from faye_websocket.errors import HandshakeError
from faye_websocket.events import CloseEvent, ErrorEvent, MessageEvent, OpenEvent

from .drivers import response_for, server_frame, splits


def request_of(client: ClientDriver) -> tuple[str, dict[str, str]]:
    client.start()
    request = parse_request(client.data_to_send().split(b"\r\n\r\n")[0])
    return f"{request.method} {request.target} {request.version}", request.headers.to_dict()


def test_request_carries_the_rfc_headers_and_no_origin_by_default() -> None:
    line, headers = request_of(ClientDriver("ws://example.com:8080/chat?x=1", ["irc", "xmpp"]))
    assert line == "GET /chat?x=1 HTTP/1.1"
    assert headers["host"] == "example.com:8080"
    assert headers["upgrade"] == "websocket" and headers["connection"] == "Upgrade"
    assert headers["sec-websocket-version"] == "13"
    assert len(base64.b64decode(headers["sec-websocket-key"])) == 16
    assert headers["sec-websocket-protocol"] == "irc, xmpp"
    assert headers["user-agent"].startswith("faye_websocket/")
    assert "origin" not in headers


def test_keys_differ_between_connections() -> None:
    assert request_of(ClientDriver("ws://h/"))[1]["sec-websocket-key"] != \
        request_of(ClientDriver("ws://h/"))[1]["sec-websocket-key"]


def test_userinfo_becomes_basic_authorization_and_origin_and_headers_are_sent() -> None:
    client = ClientDriver("ws://us%40er:p%3Ass@h/", origin="http://h", headers={"X-Token": "t"})
    headers = request_of(client)[1]
    assert headers["authorization"] == "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert headers["origin"] == "http://h" and headers["x-token"] == "t"



@pytest.mark.parametrize("field", ["origin", "user_agent"])
@pytest.mark.parametrize("value", ["evil\r\nX-Injected: 1", "a\nb", "nul\0"])
def test_a_field_that_would_break_the_head_is_refused_when_the_driver_is_made(field: str, value: str) -> None:
    # The head is written from pairs without a second check: what the user gives is checked here.
    with pytest.raises(ValueError):
        ClientDriver("ws://h/", **{field: value})  # type: ignore[arg-type]


def test_a_user_host_field_takes_the_place_of_ours_once() -> None:
    client = ClientDriver("ws://127.0.0.1:8080/", headers=[("Host", "virtual.example"), ("X-A", "1")])
    client.start()
    head = client.data_to_send().split(b"\r\n\r\n")[0].split(b"\r\n")
    hosts = [line for line in head if line.lower().startswith(b"host:")]
    assert hosts == [b"Host: virtual.example"]
    assert head.index(hosts[0]) == 1  # where ours stood: right after the request line
    assert b"X-A: 1" in head


@pytest.mark.parametrize(("url", "secure", "host", "port", "host_header", "resource"), [
    ("ws://h", False, "h", 80, "h", "/"),
    ("wss://h/p?q=1", True, "h", 443, "h", "/p?q=1"),
    ("https://h:8443", True, "h", 8443, "h:8443", "/"),
    ("http://[::1]:9000/x", False, "::1", 9000, "[::1]:9000", "/x"),
])
def test_urls(url: str, secure: bool, host: str, port: int, host_header: str, resource: str) -> None:
    parsed = parse_url(url)
    assert (parsed.secure, parsed.host, parsed.port, parsed.host_header, parsed.resource) == \
        (secure, host, port, host_header, resource)


@pytest.mark.parametrize("url", ["ftp://h/", "ws://", "ws://h/#frag", "h:80", "ws://h:99999/", "ws://h:0/",
                                 "ws://h/a b", "ws://h/\r\nX: y"])
def test_bad_urls_are_value_errors_before_any_io(url: str) -> None:
    with pytest.raises(ValueError):
        ClientDriver(url)


def failed_with(client: ClientDriver, response: bytes) -> str:
    client.receive_data(response)
    events = client.events_received()
    assert len(events) == 2 and isinstance(events[0], ErrorEvent), events
    assert isinstance(events[1], CloseEvent) and events[1].code in (1002, 1010)
    assert client.close_expected() and client.handshake_error is not None
    return events[0].message


def started(url: str = "ws://h/", **options: object) -> ClientDriver:
    client = ClientDriver(url, **options)  # type: ignore[arg-type]
    client.start()
    client.data_to_send()
    return client


def test_non_101_status_fails_and_keeps_status_and_headers() -> None:
    client = started()
    message = failed_with(client, b"HTTP/1.1 403 Forbidden\r\nX-Why: no\r\nContent-Length: 0\r\n\r\n")
    assert message == "Error during WebSocket handshake: Unexpected response code: 403"
    assert client.status_code == 403 and client.headers["X-Why"] == "no"
    assert isinstance(client.handshake_error, HandshakeError) and client.handshake_error.status == 403


def test_missing_upgrade_fails() -> None:
    client = started()
    response = response_for(client).replace(b"Upgrade: websocket\r\n", b"")
    assert "Upgrade" in failed_with(client, response)


def test_wrong_accept_fails() -> None:
    client = started()
    assert "Sec-WebSocket-Accept mismatch" in failed_with(client, response_for(client, accept="x" * 28))


def test_unoffered_subprotocol_fails() -> None:
    client = started(protocols=["irc"])
    assert "Sec-WebSocket-Protocol mismatch" in failed_with(
        client, response_for(client, "Sec-WebSocket-Protocol: xmpp"))


def test_unoffered_extension_fails_with_1010() -> None:
    client = started()
    client.receive_data(response_for(client, "Sec-WebSocket-Extensions: permessage-deflate"))
    events = client.events_received()
    assert isinstance(events[1], CloseEvent) and events[1].code == 1010


def test_connection_header_as_a_token_list_is_accepted() -> None:
    client = started(protocols=["irc"])
    response = response_for(client, "Sec-WebSocket-Protocol: irc").replace(
        b"Connection: Upgrade", b"Connection: keep-alive, upgrade")
    client.receive_data(response)
    assert client.events_received() == [OpenEvent()]
    assert client.protocol == "irc" and client.status_code == 101


def test_a_frame_sent_right_behind_the_101_is_delivered_for_every_split() -> None:
    template = started()
    data = response_for(template) + server_frame(Opcode.TEXT, b"hello")

    for chunks in splits(data):
        client = ClientDriver("ws://h/")
        client._key = template._key  # replay the same handshake
        client.start()
        for chunk in chunks:
            client.receive_data(chunk)
        assert client.events_received() == [OpenEvent(), MessageEvent("hello")], [len(c) for c in chunks]


def test_chunked_transfer_encoding_on_a_101_does_not_swallow_frames() -> None:
    client = started()
    response = response_for(client, "Transfer-Encoding: chunked")
    client.receive_data(response + server_frame(Opcode.TEXT, b"x"))
    assert client.events_received() == [OpenEvent(), MessageEvent("x")]


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
