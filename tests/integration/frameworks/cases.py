"""Behaviour every framework integration must show, under every server it runs on.

``FrameworkCases`` is subclassed by test_flask.py and test_django.py, each with a ``server``
fixture (one server per parameter, started once per module; its whole log is checked for
errors and tracebacks when it stops) and the text their apps put in a reply: ``TAG`` (set
before the view by a ``before_request`` hook or a middleware).

The WebSocket tests speak raw bytes (``RawClient``): a first frame pipelined behind the head,
and nothing after the close but the server's EOF. ``/stats`` answering with the count of ended
sockets and streams shows that the view returned (under a sync worker nothing else would be
served).
"""

from __future__ import annotations

import socket

from websockets.sync.client import connect as independent_connect

from tests.integration.frameworks.support import WAIT, Server, cookie_from
from tests.integration.server_support import BINARY, CLOSE, TEXT, RawClient, client_frame, close_payload


def read_event_stream_head(sock: socket.socket) -> tuple[str, bytes]:
    """Read up to the end of the response head; return it and the bytes after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed before the head: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def read_until(sock: socket.socket, data: bytes, marker: bytes) -> bytes:
    """Read until ``marker`` has arrived (the socket's timeout bounds each read)."""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed before {marker!r}: {data!r}"
        data += chunk
    return data


class FrameworkCases:
    TAG = ""  # set by the subclass: the mark the app's hook or middleware leaves on the request

    def test_echo_gets_url_variables_and_a_frame_pipelined_behind_the_handshake(self, server: Server) -> None:
        before = server.stats()["sockets"]
        with RawClient(server.port, path="/echo/lobby", trailing=client_frame(TEXT, b"pipelined")) as raw:
            assert raw.status == 101, raw.head
            assert raw.read_message().payload == f"lobby|{self.TAG}|pipelined".encode()
            raw.send_frame(BINARY, b"\x00\xff")
            assert raw.read_message().payload == b"\x00\xff"
            # the client closes: the server answers 1000 and then closes TCP with nothing more
            assert raw.close_handshake(1000).payload == close_payload(1000)
        server.wait_for_stats(sockets=before + 1)

    def test_an_independent_client_echoes_a_megabyte(self, server: Server) -> None:
        with independent_connect(server.url("/echo/big", "ws"), max_size=None, open_timeout=WAIT) as client:
            client.send("hello")
            assert client.recv(timeout=WAIT) == f"big|{self.TAG}|hello"
            payload = bytes(range(256)) * 4096
            client.send(payload)
            assert client.recv(timeout=WAIT) == payload

    def test_the_server_closes_cleanly_and_the_client_answers(self, server: Server) -> None:
        with RawClient(server.port, path="/closing/attic") as raw:
            assert raw.status == 101, raw.head
            raw.send_frame(TEXT, b"close please")
            frame = raw.read_message()
            assert frame.opcode == CLOSE
            assert frame.payload == close_payload(1000, "closed attic")
            raw.send_frame(CLOSE, frame.payload)
            raw.expect_eof()

    def test_a_session_is_checked_before_the_takeover_and_refused_with_403(self, server: Server) -> None:
        with RawClient(server.port, path="/private/vault", protocols="superchat") as raw:
            assert raw.status == 403, raw.head
            assert raw.header("Upgrade") is None
            # Read the whole answer before closing: a server still writing its body into a closed
            # socket logs "Broken pipe", which fails the clean-log check (runserver did, under load).
            length = raw.header("Content-Length")
            if length is not None:
                raw.read_exact(int(length))
        status, _, _ = server.get("/")  # and the server carries on
        assert status == 200

    def test_the_event_stream_from_a_view_ends_when_the_client_goes(self, server: Server) -> None:
        before = server.stats()["streams"]
        request = "GET /events/2 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
            sock.sendall(request.encode())
            head, rest = read_event_stream_head(sock)
            assert head.startswith("HTTP/1.1 200"), head
            assert "content-type: text/event-stream" in head.lower()
            body = read_until(sock, rest, f"data: {self.TAG} 1\r\n\r\n".encode())
            assert body.startswith(b"retry: 2000\r\n\r\n")
            assert f"id: 0\r\ndata: {self.TAG} 0\r\n\r\nid: 1\r\n".encode() in body
        server.wait_for_stats(streams=before + 1)  # the view's thread noticed the client leave

    def test_head_on_an_event_stream_gets_the_head_of_an_empty_stream(self, server: Server) -> None:
        status, headers, body = server.get("/events/2", method="HEAD")
        assert status == 200
        assert headers["content-type"].startswith("text/event-stream")
        assert body == b""

    def test_plain_http_still_works_after_takeovers(self, server: Server) -> None:
        for _ in range(2):
            with RawClient(server.port, path="/echo/again") as raw:
                raw.send_frame(TEXT, b"x")
                assert raw.read_message().payload == f"again|{self.TAG}|x".encode()
                raw.close_handshake()
        status, _, _ = server.get("/")
        assert status == 200

    @staticmethod
    def login(server: Server, name: str) -> str:
        """Log ``name`` in with a plain request; return the session cookie."""
        status, headers, body = server.get(f"/login/{name}")
        assert status == 200, body
        return cookie_from(headers)
