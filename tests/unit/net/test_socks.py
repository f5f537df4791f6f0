"""SOCKS handshakes as bytes: RFC 1928 (SOCKS5), RFC 1929 (username/password), SOCKS4 and SOCKS4a."""

from __future__ import annotations

import pytest

from faye_websocket.errors import ProxyError
from faye_websocket.net.socks import SocksHandshake, SocksVersion

SUCCESS_V4_ADDRESS = bytes([5, 0, 0, 1, 127, 0, 0, 1, 0x1F, 0x90])  # VER REP RSV ATYP=1 addr port


def exchange(handshake: SocksHandshake, replies: list[bytes], *, byte_at_a_time: bool = False) -> list[bytes]:
    """Feed ``replies`` (one per round trip); return every request written, in order."""
    written = [handshake.data_to_send()]
    for reply in replies:
        chunks = [reply[i : i + 1] for i in range(len(reply))] if byte_at_a_time else [reply]
        for chunk in chunks:
            handshake.receive_data(chunk)
        written.append(handshake.data_to_send())
    return written


@pytest.mark.parametrize("byte_at_a_time", [False, True])
def test_socks5h_without_credentials_sends_the_name_for_the_proxy_to_resolve(byte_at_a_time: bool) -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5H, "example.com", 443)
    written = exchange(handshake, [b"\x05\x00", SUCCESS_V4_ADDRESS + b"first"], byte_at_a_time=byte_at_a_time)
    assert written[0] == b"\x05\x01\x00"  # one method: no authentication
    assert written[1] == b"\x05\x01\x00\x03\x0bexample.com\x01\xbb"
    assert handshake.complete and handshake.error is None
    assert handshake.leftover == b"first"  # the tunnelled stream's first bytes are kept


def test_socks5_with_credentials_offers_both_methods_and_authenticates() -> None:
    handshake = SocksHandshake(
        SocksVersion.SOCKS5, "example.com", 80, target_address="192.0.2.7", username="u", password="pw"
    )
    written = exchange(handshake, [b"\x05\x02", b"\x01\x00", SUCCESS_V4_ADDRESS])
    assert written[0] == b"\x05\x02\x00\x02"
    assert written[1] == b"\x01\x01u\x02pw"  # RFC 1929: VER ULEN UNAME PLEN PASSWD
    assert written[2] == b"\x05\x01\x00\x01\xc0\x00\x02\x07\x00\x50"  # the locally resolved address
    assert handshake.error is None


def test_ipv6_target_and_a_domain_in_the_reply() -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5, "::1", 8080)
    reply = b"\x05\x00\x00\x03\x09localhost\x1f\x90"
    written = exchange(handshake, [b"\x05\x00", reply])
    assert written[1] == b"\x05\x01\x00\x04" + bytes(15) + b"\x01\x1f\x90"
    assert handshake.complete and handshake.error is None and handshake.leftover == b""


def test_refused_credentials_are_an_error_that_does_not_show_them() -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5H, "h", 1, username="alice", password="hunter2")
    exchange(handshake, [b"\x05\x02", b"\x01\x01"])
    assert isinstance(handshake.error, ProxyError)
    assert "refused the username and password" in str(handshake.error)
    assert "hunter2" not in str(handshake.error)


def test_a_proxy_that_wants_credentials_we_do_not_have_says_so() -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5H, "h", 1)
    exchange(handshake, [b"\x05\xff"])
    assert "requires authentication" in str(handshake.error)


@pytest.mark.parametrize(("code", "text"), [(1, "general SOCKS server failure"), (5, "connection refused"),
                                            (4, "host unreachable")])
def test_connect_failure_replies_name_the_rfc_1928_reason(code: int, text: str) -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5H, "example.com", 80)
    exchange(handshake, [b"\x05\x00", bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0])])
    assert handshake.error is not None and text in str(handshake.error)
    assert "example.com:80" in str(handshake.error)


def test_eof_before_the_reply_is_an_error() -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS5H, "example.com", 80)
    handshake.data_to_send()
    handshake.receive_data(b"\x05")
    handshake.receive_eof()
    assert handshake.complete and "closed the connection" in str(handshake.error)


def test_socks4_sends_the_address_and_user_id() -> None:
    handshake = SocksHandshake(
        SocksVersion.SOCKS4, "example.com", 80, target_address="10.0.0.1", username="bob"
    )
    written = exchange(handshake, [b"\x00\x5a\x00\x00\x00\x00\x00\x00rest"])
    assert written[0] == b"\x04\x01\x00\x50\x0a\x00\x00\x01bob\x00"
    assert handshake.error is None and handshake.leftover == b"rest"


def test_socks4a_sends_the_name_after_the_marker_address() -> None:
    handshake = SocksHandshake(SocksVersion.SOCKS4A, "example.com", 80)
    assert handshake.data_to_send() == b"\x04\x01\x00\x50\x00\x00\x00\x01\x00example.com\x00"
    handshake.receive_data(b"\x00\x5b" + bytes(6))
    assert handshake.error is not None and "rejected" in str(handshake.error)


def test_what_the_protocol_cannot_carry_is_refused_before_any_io() -> None:
    with pytest.raises(ValueError, match="IPv6"):
        SocksHandshake(SocksVersion.SOCKS4A, "::1", 80)
    with pytest.raises(ValueError, match="resolve"):
        SocksHandshake(SocksVersion.SOCKS5, "example.com", 80)
    with pytest.raises(ValueError, match="RFC 1929"):
        SocksHandshake(SocksVersion.SOCKS5H, "h", 80, username="u", password="p" * 256)
    with pytest.raises(ValueError, match="too long"):
        SocksHandshake(SocksVersion.SOCKS5H, "a" * 256, 80)
