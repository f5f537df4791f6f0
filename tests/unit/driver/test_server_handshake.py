"""The server side of the opening handshake: validation, answers, and the raw-head path."""

from __future__ import annotations

import pytest

from faye_websocket.driver.frames import Opcode
from faye_websocket.driver.http import Headers, parse_request, parse_response
from faye_websocket.driver.server import ServerDriver, is_websocket_request
from faye_websocket.events import CloseEvent, ErrorEvent, MessageEvent, OpenEvent, ReadyState

from .drivers import ACCEPT, client_frame, open_server, request_bytes, splits


def server_for(head: bytes, **options: object) -> ServerDriver:
    driver = ServerDriver(parse_request(head.split(b"\r\n\r\n")[0]), **options)  # type: ignore[arg-type]
    driver.start()
    return driver


def answer(driver: ServerDriver) -> tuple[int, dict[str, str], bytes]:
    head, _, body = driver.data_to_send().partition(b"\r\n\r\n")
    response = parse_response(head)
    return response.status, response.headers.to_dict(), body


def test_valid_request_gets_the_rfc_accept_value_and_opens() -> None:
    driver = server_for(request_bytes())
    status, headers, body = answer(driver)
    assert status == 101 and body == b""
    assert headers["upgrade"] == "websocket" and headers["connection"] == "Upgrade"
    assert headers["sec-websocket-accept"] == ACCEPT
    assert driver.events_received() == [OpenEvent()]
    assert driver.version == "hybi-13" and driver.url == "ws://example.com/chat?room=1"


@pytest.mark.parametrize("version", ["13", "8", "7"])
def test_hybi_versions_13_8_and_7_are_accepted(version: str) -> None:
    driver = server_for(request_bytes(version=version))
    assert answer(driver)[0] == 101
    assert driver.version == f"hybi-{version}"


def test_unknown_version_gets_426_listing_the_supported_ones() -> None:
    driver = server_for(request_bytes(version="12"))
    status, headers, body = answer(driver)
    assert status == 426 and headers["sec-websocket-version"] == "13, 8, 7"
    assert b"Unsupported WebSocket version: 12" in body
    events = driver.events_received()
    assert isinstance(events[0], ErrorEvent) and events[1] == CloseEvent(1002, events[0].message, False)
    assert driver.close_expected()


@pytest.mark.parametrize("key", ["", "short", "dGhlIHNhbXBsZSBub25jZQ", "!!!!!!!!!!!!!!!!!!!!!!==",
                                 "dGhlIHNhbXBsZSBub25jZXg="])
def test_missing_or_malformed_key_gets_400(key: str) -> None:
    driver = server_for(request_bytes(key=key))
    status, _, body = answer(driver)
    assert status == 400 and b"Sec-WebSocket-Key" in body


def test_header_names_are_case_insensitive_and_connection_is_a_token_list() -> None:
    head = (b"GET / HTTP/1.1\r\nhost: h\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
            b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n")
    assert is_websocket_request(parse_request(head[:-4]))
    assert answer(server_for(head))[0] == 101


@pytest.mark.parametrize(("fields", "upgrade"), [
    ((("Connection", "Upgrade"),), True),
    ((("Connection", "UPGRADE"),), True),
    ((("Connection", "keep-alive, Upgrade"),), True),
    ((("Connection", "keep-alive"), ("Connection", "upgrade")), True),
    ((("Connection", "upgrade"), ("Connection", "keep-alive")), True),
    ((("Connection", "keep-alive"),), False),
    ((("Connection", "upgraded"),), False),
    ((("Connection", ""),), False),
    ((("Upgrade", "upgrade"),), False),
    ((), False),
])
def test_has_token_is_a_membership_test_of_tokens(fields: tuple[tuple[str, str], ...], upgrade: bool) -> None:
    headers = Headers(fields)
    assert headers.has_token("connection", "upgrade") is upgrade
    assert ("upgrade" in headers.tokens("Connection")) is upgrade


def test_subprotocol_is_the_first_of_the_clients_offers_that_the_server_supports() -> None:
    driver = server_for(request_bytes("Sec-WebSocket-Protocol: xmpp, irc, chat"), protocols=["chat", "irc"])
    assert answer(driver)[1]["sec-websocket-protocol"] == "irc"
    assert driver.protocol == "irc"


def test_no_common_subprotocol_still_opens_without_the_header() -> None:
    driver = server_for(request_bytes("Sec-WebSocket-Protocol: xmpp"), protocols=["irc"])
    status, headers, _ = answer(driver)
    assert status == 101 and "sec-websocket-protocol" not in headers and driver.protocol == ""


def test_extra_headers_are_added_but_cannot_replace_handshake_headers() -> None:
    driver = server_for(request_bytes(), headers={"X-Served-By": "faye", "Upgrade": "evil"})
    headers = answer(driver)[1]
    assert headers["x-served-by"] == "faye" and headers["upgrade"] == "websocket"


def test_header_values_with_line_breaks_are_refused() -> None:
    with pytest.raises(ValueError):
        ServerDriver(None, headers={"X-Bad": "a\r\nSet-Cookie: x"})


def raw_events(chunks: list[bytes], **options: object) -> tuple[ServerDriver, list[object]]:
    """Feed a raw connection's bytes, starting the driver as soon as its request is known."""
    driver = ServerDriver(None, **options)  # type: ignore[arg-type]
    for chunk in chunks:
        driver.receive_data(chunk)
        if driver.request is not None and driver.state is ReadyState.CONNECTING:
            driver.start()
    return driver, driver.events_received()


def test_raw_path_reads_the_head_and_delivers_a_frame_sent_in_the_same_segment() -> None:
    data = request_bytes() + client_frame(Opcode.TEXT, b"first")
    for chunks in splits(data):
        driver, events = raw_events(chunks)
        assert events == [OpenEvent(), MessageEvent("first")], [len(c) for c in chunks]
        assert driver.request is not None and driver.request.target == "/chat?room=1"


def test_bytes_arriving_between_head_and_start_are_kept() -> None:
    driver = ServerDriver(None)
    driver.receive_data(request_bytes())
    driver.receive_data(client_frame(Opcode.TEXT, b"early"))
    driver.start()
    assert driver.events_received() == [OpenEvent(), MessageEvent("early")]


def test_oversized_head_gets_431_and_a_close_event() -> None:
    driver = ServerDriver(None)
    driver.receive_data(b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 20000)
    status, _, _ = answer(driver)
    assert status == 431
    assert isinstance(driver.events_received()[-1], CloseEvent)
    assert driver.close_expected()


def test_too_many_header_fields_get_431() -> None:
    fields = b"".join(b"X-%d: y\r\n" % i for i in range(150))
    driver = ServerDriver(None)
    driver.receive_data(b"GET / HTTP/1.1\r\n" + fields + b"\r\n")
    assert answer(driver)[0] == 431


def test_garbage_request_line_gets_400() -> None:
    driver = ServerDriver(None)
    driver.receive_data(b"\x16\x03\x01 hello tls\r\n\r\n")
    assert answer(driver)[0] == 400


def test_reject_answers_with_the_given_status_instead_of_upgrading() -> None:
    driver = ServerDriver(None)
    driver.receive_data(request_bytes("Origin: http://evil.example"))
    driver.reject(403, "Origin not allowed")
    status, _, body = answer(driver)
    assert status == 403 and body == b"Origin not allowed"
    driver.start()
    assert driver.data_to_send() == b""


@pytest.mark.parametrize("extra", [("Sec-WebSocket-Key1: 1 2", "Sec-WebSocket-Key2: 1 2"), ()])
def test_draft_requests_get_400_unless_allowed(extra: tuple[str, ...]) -> None:
    lines = ["GET / HTTP/1.1", "Host: h", "Upgrade: WebSocket", "Connection: Upgrade", *extra, "", ""]
    head = "\r\n".join(lines)
    driver = server_for(head.encode())
    status, _, body = answer(driver)
    assert status == 400 and b"allow_drafts" in body


def test_forwarded_https_makes_the_url_wss() -> None:
    driver = server_for(request_bytes("X-Forwarded-Proto: https"))
    assert driver.url == "wss://example.com/chat?room=1"
    assert server_for(request_bytes(), secure=True).url.startswith("wss://")


def test_a_plain_http_request_gets_426_naming_websocket_not_a_draft_message() -> None:
    driver = server_for(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    status, headers, body = answer(driver)
    assert status == 426 and headers["upgrade"] == "websocket"
    assert b"WebSocket only" in body and b"draft" not in body


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


def test_obs_fold_in_a_request_is_still_refused_with_400() -> None:
    data, _ = rejected(request_bytes("X-Long: a", " b"))
    assert data.startswith(b"HTTP/1.1 400 ")


class _Nameless:
    """Not an extension: no name, no sessions."""

    type = "permessage"


@pytest.mark.parametrize("offer", [(), ("Sec-WebSocket-Extensions: permessage-deflate",)])
def test_an_invalid_extension_raises_whether_or_not_extensions_are_offered(offer: tuple[str, ...]) -> None:
    for _ in range(2):  # checked again on every handshake, not only the first
        with pytest.raises(TypeError, match="extension.name must be a string"):
            open_server(*offer, extensions=[_Nameless()])


def test_two_extensions_of_one_name_raise_whether_or_not_the_client_offers_extensions() -> None:
    from faye_websocket.extensions.permessage_deflate import PermessageDeflate

    twins = [PermessageDeflate(), PermessageDeflate()]
    for offer in ((), ("Sec-WebSocket-Extensions: permessage-deflate",)):
        with pytest.raises(ValueError, match="already registered"):
            open_server(*offer, extensions=twins)
    assert open_server(extensions=twins[:1]).protocol == ""  # one of them alone is fine
