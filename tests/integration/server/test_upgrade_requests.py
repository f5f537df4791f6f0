"""What an upgrade request may carry, on both server paths: a request with content is refused (the
new protocol starts after the whole message, RFC 9110 section 7.8)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.server_support import (
    TEXT,
    HTTPServerThread,
    RawClient,
    RawServerThread,
    client_frame,
    handshake_request,
)


@pytest.mark.parametrize("server_class", [HTTPServerThread, RawServerThread])
def test_upgrade_request_with_a_body_is_refused_with_400_not_parsed_as_frames(
        no_leaks: None, server_class: Any) -> None:
    # RFC 9110 section 7.8: the new protocol begins after the whole request message, content
    # included. The body used to be read as WebSocket frames (here: a 101, then a 1002 failure).
    head, _ = handshake_request(extra=(("Content-Length", "5"),))
    with server_class() as server, \
            RawClient(server.port, request=head, trailing=b"hello" + client_frame(TEXT, b"x")) as raw:
        assert raw.status == 400, raw.head
        raw.read_until_eof()
    chunked, _ = handshake_request(extra=(("Transfer-Encoding", "chunked"),))
    with server_class() as server, RawClient(server.port, request=chunked, trailing=b"0\r\n\r\n") as raw:
        assert raw.status == 400, raw.head
    zero, _ = handshake_request(extra=(("Content-Length", "0"),))  # some devices send it
    with server_class() as server, RawClient(server.port, request=zero) as raw:
        assert raw.status == 101
        raw.close_handshake()
