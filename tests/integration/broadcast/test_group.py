"""Groups and one-shot broadcasts over real connections: WebSocket (plain, deflate), EventSource."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from faye_websocket import Client, EventSource, PermessageDeflate, connect
from faye_websocket.broadcast import Group, broadcast
from tests.integration.components import TLSCerts
from tests.integration.server_support import HTTPServerThread

WAIT = 5.0


def wait_members(group: Group, count: int) -> None:
    deadline = time.monotonic() + WAIT
    while len(group) < count:
        assert time.monotonic() < deadline, f"{len(group)} of {count} members joined"
        time.sleep(0.005)


@pytest.fixture
def group() -> Iterator[Group]:
    group = Group("room")
    yield group
    group.close()


@pytest.mark.parametrize(
    ("server_deflate", "client_deflate"),
    [
        (None, None),
        (PermessageDeflate(no_context_takeover=True), PermessageDeflate()),  # one shared compressed frame
        (PermessageDeflate(), PermessageDeflate()),  # context takeover: each member compresses its own
    ],
    ids=["plain", "deflate-shared", "deflate-takeover"],
)
def test_every_member_receives_every_message_unchanged_and_in_order(
    no_leaks: None, group: Group, server_deflate: Any, client_deflate: Any
) -> None:
    extensions = [server_deflate] if server_deflate else []
    with HTTPServerThread(lambda ws: group.join(ws), extensions=extensions) as server:
        clients = [connect(server.url(f"/c{i}"), extensions=[client_deflate] if client_deflate else [])
                   for i in range(4)]
        try:
            wait_members(group, 4)
            messages: list[str | bytes] = [f"message {n} " + "é" * n for n in range(20)] + [b"\x00\xffbinary"]
            for message in messages:
                assert group.publish(message) == 4
            for client in clients:
                assert [client.recv(WAIT) for _ in messages] == messages
        finally:
            for client in clients:
                client.close()


def test_a_client_side_connection_can_be_a_member(no_leaks: None, group: Group) -> None:
    received: list[str] = []
    with HTTPServerThread(lambda ws: ws.on("message", lambda event: received.append(event.data))) as server:
        client = Client(server.url("/"))
        try:
            deadline = time.monotonic() + WAIT
            while not group.join(client):
                assert time.monotonic() < deadline
                time.sleep(0.005)
            group.publish("from the server's client")  # masked by the client's own driver
            while not received:
                assert time.monotonic() < deadline
                time.sleep(0.005)
            assert received == ["from the server's client"]
        finally:
            client.close()


def test_one_shot_broadcast_reaches_each_open_connection(no_leaks: None) -> None:
    with HTTPServerThread(lambda ws: None) as server:
        clients = [connect(server.url(f"/c{i}")) for i in range(3)]
        try:
            deadline = time.monotonic() + WAIT
            while len(server.recorded.sockets) < 3:
                assert time.monotonic() < deadline
                time.sleep(0.005)
            assert broadcast(server.recorded.sockets, "one") == 3
            assert broadcast(server.recorded.sockets, b"two") == 3
            for client in clients:
                assert [client.recv(WAIT), client.recv(WAIT)] == ["one", b"two"]
        finally:
            for client in clients:
                client.close()


def test_a_closed_member_leaves_the_group(no_leaks: None, group: Group) -> None:
    with HTTPServerThread(lambda ws: group.join(ws)) as server:
        client = connect(server.url("/"))
        wait_members(group, 1)
        client.close()
        deadline = time.monotonic() + WAIT
        while len(group):
            assert time.monotonic() < deadline, "the closed member is still in the group"
            time.sleep(0.005)
        assert group.publish("nobody") == 0


class _StreamHandler(BaseHTTPRequestHandler):
    group: Group

    def do_GET(self) -> None:
        self.group.join(EventSource.from_handler(self, ping=None, retry=None))

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_event_source_members_get_text_messages_as_data_events(no_leaks: None, group: Group) -> None:
    handler = type("Handler", (_StreamHandler,), {"group": group})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    import threading

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    sock = socket.create_connection(server.server_address, timeout=WAIT)
    try:
        sock.sendall(b"GET /room HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        wait_members(group, 1)
        group.publish(b"binary: not for event streams")
        group.publish("line one\nline two")
        data = b""
        while b"data: line two\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, f"stream ended early: {data!r}"
            data += chunk
        body = data.split(b"\r\n\r\n", 1)[1]
        assert body == b"data: line one\ndata: line two\r\n\r\n"  # faye's line ends
    finally:
        sock.close()
        deadline = time.monotonic() + WAIT
        while len(group) and time.monotonic() < deadline:
            time.sleep(0.005)
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def test_broadcasts_and_the_members_own_sends_never_interleave_their_frames(no_leaks: None) -> None:
    big = "b" * 65536  # several partial non-blocking writes each
    group = Group("big", max_bytes=16 << 20)  # all of it may wait in the backlog: nobody reads yet

    def setup(ws: Any) -> None:
        group.join(ws)
        # The member's own thread sends too, blocking as send() does, while broadcasts flow.
        ws.on("message", lambda event: [ws.send(f"own {n}") for n in range(100)])

    with HTTPServerThread(setup) as server:
        client = connect(server.url("/"))
        try:
            wait_members(group, 1)
            client.send("go")
            for n in range(100):
                group.publish(f"{n} {big}")
            received = [client.recv(WAIT) for _ in range(200)]
            assert [m for m in received if m.startswith("own")] == [f"own {n}" for n in range(100)]
            assert [m for m in received if not m.startswith("own")] == [f"{n} {big}" for n in range(100)]
        finally:
            client.close()
            group.close()


def test_tls_members_receive_every_message_intact(no_leaks: None, group: Group, tls_certs: TLSCerts) -> None:
    from websockets.sync.client import connect as websockets_connect

    messages = [f"{n} " + "t" * 20_000 for n in range(30)]  # each many TLS records
    with HTTPServerThread(lambda ws: group.join(ws)).use_tls(tls_certs.server_context()) as server:
        url, context = server.url("/", host="localhost"), tls_certs.client_context()
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(websockets_connect(url, ssl=context, max_size=None))
                       for _ in range(3)]
            wait_members(group, 3)
            for message in messages:
                group.publish(message)
            for client in clients:
                assert [client.recv(WAIT) for _ in messages] == messages
