"""The server-side WebSocket over TLS (ssl.SSLSocket from the server), with the test CA."""

from __future__ import annotations

import os

import pytest
from websockets.sync.client import connect

from tests.integration.components import TLSCerts
from tests.integration.server_support import (
    TEXT,
    WAIT,
    HTTPServerThread,
    RawClient,
    RawServerThread,
    client_frame,
)


@pytest.fixture(params=[HTTPServerThread, RawServerThread], ids=["http_server", "socketserver"])
def tls_server(request: pytest.FixtureRequest, tls_certs: TLSCerts):
    with request.param().use_tls(tls_certs.server_context()) as running:
        yield running


def test_first_frame_in_the_same_tls_record_as_the_head_is_delivered(tls_server, tls_certs: TLSCerts) -> None:
    with RawClient(tls_server.port, trailing=client_frame(TEXT, b"encrypted early bird"),
                   ssl_context=tls_certs.client_context()) as raw:
        assert raw.status == 101
        assert raw.read_message().payload == b"encrypted early bird"
        assert raw.close_handshake().close_code == 1000


def test_wss_echo_of_a_megabyte_and_the_url_scheme(tls_server, tls_certs: TLSCerts) -> None:
    payload = os.urandom(1 << 20)
    with connect(tls_server.url(host="localhost"), ssl=tls_certs.client_context(), max_size=None,
                 open_timeout=WAIT) as client:
        client.send(payload)
        assert client.recv(timeout=WAIT) == payload
        client.send("text")
        assert client.recv(timeout=WAIT) == "text"
        assert tls_server.recorded.wait_socket().url.startswith("wss://localhost:")
