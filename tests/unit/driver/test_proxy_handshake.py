"""The sans-I/O CONNECT handshake: the request it writes and how it reads the proxy's reply."""

from __future__ import annotations

import pytest

from faye_websocket.driver.proxy import ProxyHandshake, authority, basic_credentials
from faye_websocket.errors import HandshakeError, ProxyError

OK_REPLY = b"HTTP/1.1 200 Connection established\r\n\r\n"


def request_lines(handshake: ProxyHandshake) -> list[str]:
    raw = handshake.request()
    assert raw.endswith(b"\r\n\r\n")
    return raw.decode("latin-1")[:-4].split("\r\n")


def test_request_is_connect_with_http_1_1_and_host() -> None:
    assert request_lines(ProxyHandshake("example.com", 443)) == [
        "CONNECT example.com:443 HTTP/1.1",
        "Host: example.com:443",
    ]


def test_ipv6_target_is_bracketed_in_request_line_and_host() -> None:
    lines = request_lines(ProxyHandshake("::1", 8080))
    assert lines[0] == "CONNECT [::1]:8080 HTTP/1.1"
    assert lines[1] == "Host: [::1]:8080"
    assert authority("[::1]", 80) == "[::1]:80"


def test_credentials_become_basic_proxy_authorization() -> None:
    lines = request_lines(ProxyHandshake("h", 80, username="user", password="secret"))
    assert "Proxy-Authorization: Basic dXNlcjpzZWNyZXQ=" in lines


def test_credentials_with_non_ascii_characters_are_utf8_encoded() -> None:
    assert basic_credentials("us\u00e9r", "p:w") == "Basic dXPDqXI6cDp3"


def test_custom_headers_follow_the_standard_ones_and_may_replace_them() -> None:
    handshake = ProxyHandshake("h", 80, headers={"User-Agent": "test", "host": "override:1"})
    assert request_lines(handshake)[1:] == ["User-Agent: test", "host: override:1"]


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        ProxyHandshake("h", 80, headers={"X": "a\r\nEvil: 1"})


@pytest.mark.parametrize(
    "reply", [OK_REPLY, b"HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy\r\n\r\n"]
)
def test_a_2xx_reply_opens_the_tunnel(reply: bytes) -> None:
    handshake = ProxyHandshake("h", 80)
    assert handshake.receive_data(reply) is True
    assert handshake.error is None
    assert handshake.status_code == 200
    assert handshake.leftover == b""


def test_reply_fed_one_byte_at_a_time_completes_only_at_the_blank_line() -> None:
    handshake = ProxyHandshake("h", 80)
    reply = OK_REPLY + b"\x81\x02hi"
    results = [handshake.receive_data(reply[i : i + 1]) for i in range(len(OK_REPLY))]
    assert results == [False] * (len(OK_REPLY) - 1) + [True]
    assert handshake.leftover == b""


def test_bytes_after_the_reply_head_are_kept_as_leftover() -> None:
    handshake = ProxyHandshake("h", 80)
    assert handshake.receive_data(OK_REPLY + b"\x81\x02hi")
    assert handshake.leftover == b"\x81\x02hi"


@pytest.mark.parametrize("status", [401, 403, 407, 502, 503])
def test_a_refusal_is_a_proxy_error_with_status_and_headers(status: int) -> None:
    handshake = ProxyHandshake("example.com", 443)
    reply = f"HTTP/1.1 {status} Nope\r\nProxy-Authenticate: Basic realm=x\r\nContent-Length: 0\r\n\r\n"
    assert handshake.receive_data(reply.encode())
    error = handshake.error
    assert isinstance(error, ProxyError) and isinstance(error, HandshakeError)
    assert error.status == status
    assert error.headers["proxy-authenticate"] == "Basic realm=x"
    assert "example.com:443" in str(error) and str(status) in str(error)


def test_a_malformed_reply_is_a_proxy_error_without_status() -> None:
    handshake = ProxyHandshake("h", 80)
    assert handshake.receive_data(b"SSH-2.0-OpenSSH\r\n\r\n")
    assert isinstance(handshake.error, ProxyError)
    assert handshake.error.status is None


def test_an_endless_reply_head_is_refused_instead_of_buffered() -> None:
    handshake = ProxyHandshake("h", 80)
    handshake.receive_data(b"HTTP/1.1 200 OK\r\n")
    assert handshake.receive_data(b"X: " + b"a" * 20000) is True
    assert isinstance(handshake.error, ProxyError)


def test_eof_before_the_reply_is_a_proxy_error() -> None:
    handshake = ProxyHandshake("h", 80)
    handshake.receive_data(b"HTTP/1.1 200")
    handshake.receive_eof()
    assert isinstance(handshake.error, ProxyError)
    assert "closed" in str(handshake.error)


@pytest.mark.parametrize("split", [None, 10, 30])
def test_interim_1xx_replies_to_connect_are_skipped(split: int | None) -> None:
    # RFC 9110 section 15.2: a client MUST be able to parse 1xx responses before the final one.
    reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\nHTTP/1.1 200 OK\r\n\r\nrest"
    handshake = ProxyHandshake("example.com", 443)
    parts = [reply] if split is None else [reply[:split], reply[split:]]
    done = [handshake.receive_data(part) for part in parts]
    assert done[-1] and not any(done[:-1])
    assert (handshake.status_code, handshake.error, handshake.leftover) == (200, None, b"rest")
    refused = ProxyHandshake("example.com", 443)
    assert refused.receive_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 407 Auth\r\n\r\n")
    assert refused.error is not None and refused.error.status == 407
