"""Our client against our own server, and against raw sockets writing exact handshake bytes."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from faye_websocket.client import Client, connect
from faye_websocket.errors import ConnectionClosed, HandshakeError
from faye_websocket.events import ReadyState
from faye_websocket.server.websocket import WebSocket
from tests.integration.client_support import (
    WAIT,
    RecordingClient,
    echo_server,
    frame,
    raw_server,
    read_request,
    recv_exactly,
    serve_until_close,
    switching_protocols,
    wait_for_eof,
)


def test_connect_echoes_text_as_text_and_binary_as_binary(no_leaks: None) -> None:
    with echo_server() as server, connect(server.url("/chat?room=1")) as ws:
        assert ws.ready_state is ReadyState.OPEN
        assert (ws.status_code, ws.version, ws.protocol) == (101, "hybi-13", "")
        assert ws.headers["upgrade"].lower() == "websocket"
        ws.send("h\u00e9llo")
        assert ws.recv(WAIT) == "h\u00e9llo"
        ws.send(b"\x00\xff" * 40000)
        assert ws.recv(WAIT) == b"\x00\xff" * 40000
    assert ws.ready_state is ReadyState.CLOSED
    assert server.requests[0].target == "/chat?room=1"


def test_client_returns_connecting_then_dispatches_open_message_close(no_leaks: None) -> None:
    # The server is not answering yet (the connection waits in the listen backlog), so the
    # client is still CONNECTING however fast its thread runs; then our server takes it over.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ws = RecordingClient(f"ws://127.0.0.1:{listener.getsockname()[1]}/")
        assert ws.ready_state is ReadyState.CONNECTING
        ws.send("queued before open")
        listener.settimeout(WAIT)
        conn, _ = listener.accept()
    server_side = WebSocket(None, conn)
    server_side.on("message", lambda event: event.target.send(event.data))
    reader = threading.Thread(target=server_side.run, daemon=True)
    reader.start()
    assert ws.opened.wait(WAIT)
    assert ws.message_arrived.wait(WAIT)
    ws.close()
    close = ws.wait_closed_event()
    assert ws.wait_closed(WAIT)
    reader.join(WAIT)
    assert not reader.is_alive()
    assert ws.types == ["open", "message", "close"]
    assert ws.messages == ["queued before open"]
    assert (close.code, close.was_clean) == (1000, True)


def test_subprotocol_is_negotiated_and_request_headers_are_sent(no_leaks: None) -> None:
    with echo_server(protocols=["xmpp", "irc"]) as server:
        with connect(
            server.url(), ["irc", "xmpp"], headers={"X-Test": "1"}, origin="http://example.com"
        ) as ws:
            assert ws.protocol == "irc"
        request = server.requests[0]
    assert request.headers["X-Test"] == "1"
    assert request.headers["Origin"] == "http://example.com"
    assert request.headers["User-Agent"].startswith("faye_websocket/")
    assert request.headers["Host"] == f"127.0.0.1:{server.port}"


def test_no_origin_header_unless_given_and_userinfo_becomes_basic_auth(no_leaks: None) -> None:
    with echo_server() as server:
        with connect(server.url().replace("ws://", "ws://alice:s%40cret@")):
            pass
        request = server.requests[0]
    assert "Origin" not in request.headers
    assert request.headers["Authorization"] == "Basic YWxpY2U6c0BjcmV0"


def test_iteration_yields_messages_until_the_server_closes(no_leaks: None) -> None:
    def handler(conn: socket.socket) -> None:
        request, _ = read_request(conn)
        conn.sendall(
            switching_protocols(request) + frame(1, b"one") + frame(2, b"two") + frame(8, b"\x03\xe8")
        )
        wait_for_eof(conn)

    with raw_server(handler) as port, connect(f"ws://127.0.0.1:{port}/") as ws:
        assert list(ws) == ["one", b"two"]
    assert ws.connection.close_event is not None
    assert ws.connection.close_event.code == 1000


def test_a_frame_bundled_with_the_101_is_delivered(no_leaks: None) -> None:
    def handler(conn: socket.socket) -> None:
        request, _ = read_request(conn)
        conn.sendall(switching_protocols(request) + frame(1, b"first"))  # one write, one segment
        serve_until_close(conn)

    with raw_server(handler) as port:
        ws = RecordingClient(f"ws://127.0.0.1:{port}/")
        assert ws.message_arrived.wait(WAIT)
        ws.close()
        ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
        with connect(f"ws://127.0.0.1:{port}/") as blocking:
            assert blocking.recv(WAIT) == "first"
    assert ws.messages == ["first"]


BAD_RESPONSES = {
    "wrong accept": (lambda request: switching_protocols(request, accept="dGhlIHNhbXBsZSBub25jZQ=="), 101),
    "missing upgrade": (
        lambda request: switching_protocols(request).replace(b"Upgrade: websocket\r\n", b""),
        101,
    ),
    "unoffered subprotocol": (
        lambda request: switching_protocols(request, "Sec-WebSocket-Protocol: mqtt"),
        101,
    ),
    "unoffered extension": (
        lambda request: switching_protocols(request, "Sec-WebSocket-Extensions: permessage-deflate"),
        101,
    ),
    "not 101": (
        lambda request: b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nX-Why: nope\r\n\r\nno",
        403,
    ),
    "not http": (lambda request: b"SSH-2.0-OpenSSH_9.2\r\n\r\n", None),
}


@pytest.mark.parametrize("case", sorted(BAD_RESPONSES))
def test_bad_handshake_response_gives_error_then_close_and_closes_the_socket(
    no_leaks: None, case: str
) -> None:
    respond, status = BAD_RESPONSES[case]
    code = 1010 if case == "unoffered extension" else 1002  # ExtensionError's code (RFC 6455 7.4.1)
    client_closed = threading.Event()

    def handler(conn: socket.socket) -> None:
        request, _ = read_request(conn)
        conn.sendall(respond(request))
        wait_for_eof(conn)
        client_closed.set()

    with raw_server(handler) as port:
        ws = RecordingClient(f"ws://127.0.0.1:{port}/", ["chat"])
        close = ws.wait_closed_event()
        assert ws.types == ["error", "close"]
        assert close.code == code and not close.was_clean
        assert ws.status_code == status
        assert isinstance(ws.error, HandshakeError) and ws.error.status == status
        assert client_closed.wait(WAIT), "the client did not close its socket"
        assert ws.wait_closed(WAIT)
        with pytest.raises(HandshakeError) as caught:
            connect(f"ws://127.0.0.1:{port}/", ["chat"])
    assert caught.value.status == status
    if status == 403:
        assert caught.value.headers["x-why"] == "nope"
        assert "Unexpected response code: 403" in str(caught.value)


def test_a_masked_server_frame_fails_the_connection_with_1002(no_leaks: None) -> None:
    server_saw: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        request, _ = read_request(conn)
        conn.sendall(switching_protocols(request) + frame(1, b"masked", mask=b"abcd"))
        server_saw.append(recv_exactly(conn, 2))

    with raw_server(handler) as port:
        ws = RecordingClient(f"ws://127.0.0.1:{port}/")
        close = ws.wait_closed_event()
        assert ws.types == ["open", "error", "close"]
        assert close.code == 1002
        assert ws.wait_closed(WAIT)
        with connect(f"ws://127.0.0.1:{port}/") as blocking, pytest.raises(ConnectionClosed) as caught:
            blocking.recv(WAIT)
    assert caught.value.code == 1002
    assert server_saw[0][0] == 0x88 and server_saw[0][1] & 0x80  # the client's close frame, masked


def test_unreachable_server_gives_error_and_close_1006_or_raises(no_leaks: None) -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    ws = RecordingClient(f"ws://127.0.0.1:{port}/")
    close = ws.wait_closed_event()
    assert ws.types == ["error", "close"]
    assert close.code == 1006
    assert isinstance(ws.error, ConnectionRefusedError)
    assert "Network error" in ws.events[0].message  # type: ignore[union-attr]
    assert ws.wait_closed(WAIT)
    with pytest.raises(ConnectionRefusedError):
        connect(f"ws://127.0.0.1:{port}/")


def test_a_silent_server_times_out_within_connect_timeout(no_leaks: None) -> None:
    def handler(conn: socket.socket) -> None:
        wait_for_eof(conn)  # reads the request, never answers

    with raw_server(handler) as port:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="opening handshake"):
            connect(f"ws://127.0.0.1:{port}/", connect_timeout=0.3)
        assert time.monotonic() - started < 2.0
        ws = RecordingClient(f"ws://127.0.0.1:{port}/", connect_timeout=0.3)
        close = ws.wait_closed_event()
        assert ws.types == ["error", "close"] and close.code == 1006
        assert isinstance(ws.error, TimeoutError)
        assert ws.wait_closed(WAIT)


def test_close_while_connecting_stops_at_once(no_leaks: None) -> None:
    def handler(conn: socket.socket) -> None:
        wait_for_eof(conn)

    with raw_server(handler) as port:
        ws = RecordingClient(f"ws://127.0.0.1:{port}/", connect_timeout=WAIT)
        started = time.monotonic()
        ws.close()
        ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
        assert time.monotonic() - started < 1.0
    assert ws.types[-1] == "close"
    assert "open" not in ws.types


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "ws://", "ws://host:99999/", "ws://host/#x", "ws://a b/"]
)
def test_a_bad_url_is_a_value_error_before_any_io(no_leaks: None, url: str) -> None:
    with pytest.raises(ValueError, match="is not a valid WebSocket URL"):
        Client(url)
    with pytest.raises(ValueError):
        connect(url)


def test_unknown_options_are_type_errors(no_leaks: None) -> None:
    with pytest.raises(TypeError):
        Client("ws://127.0.0.1:1/", maxLength=10)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="Unrecognized tls option"):
        Client("wss://127.0.0.1:1/", tls={"verfy": False})
    with pytest.raises(TypeError):
        Client("ws://127.0.0.1:1/", proxy=3128)  # type: ignore[arg-type]


def test_ping_callback_runs_when_the_pong_arrives(no_leaks: None) -> None:
    with echo_server() as server, connect(server.url()) as ws:
        ponged = threading.Event()
        assert ws.ping("are you there", ponged.set)
        ws.send("flush")
        assert ws.recv(WAIT) == "flush"  # the pong came before the echo and ran the callback
        assert ponged.is_set()


def test_a_given_socket_is_used_instead_of_connecting(no_leaks: None) -> None:
    with echo_server() as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
        with connect(server.url(), sock=sock) as ws:
            ws.send("via my socket")
            assert ws.recv(WAIT) == "via my socket"


def test_ipv6_literal_urls_connect_and_send_a_bracketed_host(no_leaks: None) -> None:
    requests = []

    def handler(conn: socket.socket) -> None:
        request, _ = read_request(conn)
        requests.append(request)
        conn.sendall(switching_protocols(request) + frame(1, b"v6"))
        serve_until_close(conn)

    with raw_server(handler, host="::1") as port, connect(f"ws://[::1]:{port}/path?q=1") as ws:
        assert ws.recv(WAIT) == "v6"
    assert requests[0].target == "/path?q=1"
    assert requests[0].headers["Host"] == f"[::1]:{port}"


def silent_after_handshake(conn: socket.socket) -> None:
    """Answer the handshake, then read and ignore everything (no pongs, no close echo)."""
    request, _ = read_request(conn)
    conn.sendall(switching_protocols(request))
    wait_for_eof(conn)


def test_a_peer_that_stops_answering_pings_is_closed_with_1006(no_leaks: None) -> None:
    with raw_server(silent_after_handshake) as port:
        started = time.monotonic()
        ws = RecordingClient(f"ws://127.0.0.1:{port}/", ping=0.1, pong_timeout=0.2)
        close = ws.wait_closed_event()
        elapsed = time.monotonic() - started
        assert ws.wait_closed(WAIT)
    assert ws.types == ["open", "error", "close"]
    assert close.code == 1006
    assert 0.25 <= elapsed < 2.0


def test_close_gives_up_after_close_timeout_when_the_server_never_answers(no_leaks: None) -> None:
    with raw_server(silent_after_handshake) as port:
        ws = RecordingClient(f"ws://127.0.0.1:{port}/", close_timeout=0.3)
        assert ws.opened.wait(WAIT)
        started = time.monotonic()
        ws.close()
        close = ws.wait_closed_event()
        assert ws.wait_closed(WAIT)
        threaded_elapsed = time.monotonic() - started
        with connect(f"ws://127.0.0.1:{port}/", close_timeout=0.3) as blocking:
            started = time.monotonic()
        blocking_elapsed = time.monotonic() - started
    assert close.code == 1006 and not close.was_clean
    assert 0.3 <= threaded_elapsed < 2.0
    assert blocking.connection.close_event is not None and blocking.connection.close_event.code == 1006
    assert 0.3 <= blocking_elapsed < 2.0


def test_handlers_given_to_the_constructor_see_even_the_earliest_events(no_leaks: None) -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    seen: list[str] = []
    closed = threading.Event()
    ws = Client(
        f"ws://127.0.0.1:{port}/",
        onerror=lambda event: seen.append(event.type),
        onclose=lambda event: (seen.append(event.type), closed.set()),
    )
    assert closed.wait(WAIT)
    assert ws.wait_closed(WAIT)
    assert seen == ["error", "close"]


def test_a_bad_proxy_tls_option_is_an_error_before_any_io(no_leaks: None) -> None:
    with pytest.raises(TypeError, match="Unrecognized tls option"):
        Client("ws://127.0.0.1:1/", proxy={"origin": "https://127.0.0.1:2", "tls": {"cafle": "x"}})


def test_url_is_the_one_given_and_user_agent_can_be_left_out(no_leaks: None) -> None:
    with echo_server() as server:
        url = server.url("/a?b=c").replace("ws://", "http://")
        with connect(url, user_agent=None) as ws:
            assert ws.url == url
        assert "User-Agent" not in server.requests[0].headers


def test_leaving_a_with_block_waits_until_the_client_is_closed(no_leaks: None) -> None:
    with echo_server() as server:
        with RecordingClient(server.url()) as ws:
            assert ws.opened.wait(WAIT)
        assert ws.ready_state is ReadyState.CLOSED
        assert ws.types == ["open", "close"]
        assert ws.close_event.code == 1000


def test_fifty_concurrent_clients_each_get_their_echo_and_close(no_leaks: None) -> None:
    with echo_server() as server:
        clients = [RecordingClient(server.url(f"/{i}")) for i in range(50)]
        for i, ws in enumerate(clients):
            ws.send(f"client {i}")  # queued while CONNECTING, sent on open
        for ws in clients:
            assert ws.message_arrived.wait(WAIT)
            ws.close()
        for ws in clients:
            ws.wait_closed_event()
            assert ws.wait_closed(WAIT)
    assert [ws.messages for ws in clients] == [[f"client {i}"] for i in range(50)]
    assert all(ws.close_event.code == 1000 for ws in clients)


def test_threaded_client_keeps_messages_for_a_later_recv_when_nobody_listens(no_leaks: None) -> None:
    """A Client (reader thread) whose user only calls recv() later still gets what arrived first."""
    with echo_server() as server:
        opened, ponged = threading.Event(), threading.Event()
        # Handlers given to the constructor see even the earliest events (on() after it may not).
        client = Client(server.url("/"), onopen=lambda event: opened.set())
        try:
            assert opened.wait(WAIT)
            client.send("early")
            # The server answers in order, so once the pong is in, the echo was read before it.
            client.ping(b"after", ponged.set)
            assert ponged.wait(WAIT)
            assert client.recv(timeout=WAIT) == "early"
        finally:
            client.close()
            client.wait_closed(WAIT)


def test_wait_closed_on_a_connected_client_waits_for_the_thread_that_reads(no_leaks: None) -> None:
    # connect() starts no thread; when the user reads on a thread of their own, close() on
    # another returns at once and wait_closed(timeout) must wait for the close event.
    def handler(conn: socket.socket) -> None:
        request, _ = read_request(conn)
        conn.sendall(switching_protocols(request))
        frames = serve_until_close(conn)
        assert frames[-1][0] == 8
        time.sleep(0.2)  # the server's close frame is out; its TCP close comes a little later

    with raw_server(handler) as port:
        ws = connect(f"ws://127.0.0.1:{port}/")
        received: list[str | bytes] = []
        reader = threading.Thread(target=lambda: received.extend(ws), name="iterating-reader")
        reader.start()
        try:
            deadline = time.monotonic() + WAIT
            while not ws.connection._read_lock.locked():  # the reader is in recv()
                assert time.monotonic() < deadline
                time.sleep(0.001)
            ws.close()
            assert ws.wait_closed(WAIT)
            assert ws.ready_state == 3
        finally:
            reader.join(WAIT)
        assert received == []
