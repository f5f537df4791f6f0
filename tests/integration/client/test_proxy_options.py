"""Proxy options and the CONNECT exchange against a scripted proxy on loopback: credentials decoded
from the URLs (IPv6 targets), custom proxy headers checked before any I/O, a reply head too large,
and the origin's bytes that arrive in the same read as the proxy's 200."""

from __future__ import annotations

import base64
import socket
import threading

import pytest

from faye_websocket.client import Client, connect
from faye_websocket.errors import ProxyError
from tests.integration.client_support import (
    frame,
    raw_server,
    read_request,
    serve_until_close,
    switching_protocols,
    wait_for_eof,
)


def test_percent_encoded_userinfo_reaches_proxy_and_origin_decoded_with_ipv6_targets(no_leaks: None) -> None:
    seen: list[tuple[str, str | None, str | None]] = []

    def proxy_then_origin(conn: socket.socket) -> None:
        connect_request, _ = read_request(conn)
        seen.append((connect_request.target, connect_request.headers.get("Proxy-Authorization"), None))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        request, _ = read_request(conn)  # the "origin" is this same connection
        seen.append((request.target, request.headers.get("Authorization"), request.headers.get("Host")))
        conn.sendall(switching_protocols(request) + frame(8, b"\x03\xe8"))
        serve_until_close(conn)

    with raw_server(proxy_then_origin) as port:
        proxy = f"http://pr%2Fx:s%23e%40@127.0.0.1:{port}"
        with connect("ws://us%40er:p%3As%20s@[::1]:8080/x", proxy=proxy) as ws:
            assert list(ws) == []
    assert seen[0][:2] == ("[::1]:8080", "Basic " + base64.b64encode(b"pr/x:s#e@").decode())
    assert seen[1] == ("/x", "Basic " + base64.b64encode(b"us@er:p:s s").decode(), "[::1]:8080")


@pytest.mark.parametrize("headers", [{"X-Token": "a\r\nInjected: 1"}, {"Bad Name": "v"}])
def test_bad_proxy_headers_are_a_value_error_before_any_io(no_leaks: None, headers: dict[str, str]) -> None:
    # Request headers are checked in the constructor; proxy headers were checked only after the
    # TCP connection to the proxy was open (an error event, not the documented ValueError).
    accepted = threading.Event()

    def record(conn: socket.socket) -> None:
        accepted.set()

    with raw_server(record) as port:
        proxy = {"origin": f"http://127.0.0.1:{port}", "headers": headers}
        with pytest.raises(ValueError):
            Client("ws://127.0.0.1:9/", proxy=proxy)
        with pytest.raises(ValueError):
            connect("ws://127.0.0.1:9/", proxy=proxy)
    assert not accepted.is_set()


def test_a_proxy_reply_head_too_large_is_a_proxy_error_and_bytes_after_the_head_are_the_tunnel(
    no_leaks: None,
) -> None:
    def huge(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"p" * 70000 + b"\r\n\r\n")
        wait_for_eof(conn)

    def eager(conn: socket.socket) -> None:
        # The origin's whole answer arrives in the same write as the proxy's 200.
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        request, _ = read_request(conn)
        conn.sendall(
            switching_protocols(request) + frame(1, b"one") + frame(1, b"two") + frame(8, b"\x03\xe8")
        )
        serve_until_close(conn)

    with raw_server(huge) as port, pytest.raises(ProxyError, match="too large"):
        connect("ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{port}")
    with raw_server(eager) as port, connect("ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{port}") as ws:
        assert list(ws) == ["one", "two"]
