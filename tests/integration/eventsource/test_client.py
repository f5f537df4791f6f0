"""EventSourceClient against our writer on real sockets: events, reconnection with Last-Event-ID,
resuming without loss or duplicates across a forced disconnect, fatal responses, TLS, timeouts."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest

from faye_websocket.errors import HandshakeError, MessageTooLarge
from faye_websocket.events import ErrorEvent, OpenEvent, ReadyState
from faye_websocket.eventsource.client import EventSourceClient
from faye_websocket.eventsource.parser import MAX_RETRY_MS, ServerSentEvent
from faye_websocket.eventsource.writer import EventSource
from tests.integration.components import TLSCerts, assert_no_leaks, free_port
from tests.integration.eventsource_support import (
    StreamFunction,
    read_in_thread,
    read_until,
    serving,
    take,
    wait_for,
)


def batch_stream(per_connection: int, retry: float = 0.05) -> StreamFunction:
    """A stream that sends ``per_connection`` events numbered on from Last-Event-ID, then ends."""

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, retry=retry, ping=None)
        start = int(es.last_event_id or 0)
        for n in range(start + 1, start + per_connection + 1):
            es.send(f"event {n}", event="tick" if n % 2 else None, id=n)
        es.close()

    return stream


def test_reader_gets_named_and_unnamed_events_with_ids() -> None:
    with assert_no_leaks(), serving(batch_stream(3)) as server:
        client = EventSourceClient(server.url(), reconnect=False)
        events = take(client, 3)
    assert events == [
        ServerSentEvent("tick", "event 1", "1"),
        ServerSentEvent("message", "event 2", "2"),
        ServerSentEvent("tick", "event 3", "3"),
    ]
    assert client.ready_state is ReadyState.CLOSED
    assert client.status_code == 200


def test_reader_reconnects_after_retry_and_sends_last_event_id() -> None:
    with serving(batch_stream(3)) as server:
        client = EventSourceClient(server.url())
        events = take(client, 10)
        client.close()
    assert [e.data for e in events] == [f"event {n}" for n in range(1, 11)]
    assert [r.get("Last-Event-ID") for r in server.requests[:4]] == [None, "3", "6", "9"]
    assert client.retry == 0.05


def test_reader_resumes_without_loss_or_duplicates_after_a_forced_disconnect() -> None:
    """The server dies in the middle of an event: that event is dropped and sent again."""
    connections = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, retry=0.05, ping=None)
        connections.append(es.last_event_id)
        start = int(es.last_event_id or 0)
        es.send(f"event {start + 1}", id=start + 1)
        es.send(f"event {start + 2}", id=start + 2)
        partial = f"id: {start + 3}\r\ndata: event {start + 3}\r\n"  # no blank line: not dispatched
        handler.connection.sendall(partial.encode())
        handler.connection.shutdown(socket.SHUT_RDWR)  # the network drops it mid-event
        es.close()

    with serving(stream) as server:
        client = EventSourceClient(server.url())
        events = take(client, 8)
        client.close()
    assert [e.last_event_id for e in events] == [str(n) for n in range(1, 9)]
    assert [e.data for e in events] == [f"event {n}" for n in range(1, 9)]
    assert connections[:4] == ["", "2", "4", "6"]


def test_listeners_receive_open_message_named_and_error_events() -> None:
    seen: list[tuple[str, object]] = []
    with serving(batch_stream(3)) as server:
        client = EventSourceClient(server.url(), reconnect=False)
        client.onopen = lambda e: seen.append(("open", e))
        client.onmessage = lambda e: seen.append(("message", e.data))
        client.on("tick", lambda e: seen.append(("tick", e.data)))
        client.on("message", lambda e: seen.append(("message2", e.data)))
        runner = threading.Thread(target=client.run)
        runner.start()
        runner.join(10)
        assert not runner.is_alive()
    assert seen == [
        ("open", OpenEvent()),
        ("tick", "event 1"),
        ("message", "event 2"),
        ("message2", "event 2"),
        ("tick", "event 3"),
    ]


@pytest.mark.parametrize(
    ("status", "content_type", "words"),
    [(204, None, "204"), (500, "text/plain", "status 500"), (200, "text/plain", "text/plain")],
)
def test_response_that_is_not_an_event_stream_stops_with_a_clear_error(
    status: int, content_type: str | None, words: str
) -> None:
    errors: list[ErrorEvent] = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        if content_type:
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with serving(stream) as server:
        client = EventSourceClient(server.url(), retry=0.01)
        client.onerror = errors.append
        with pytest.raises(HandshakeError, match=words) as caught:
            take(client, 1)
    assert caught.value.status == status
    assert len(server.requests) == 1  # no reconnection
    assert len(errors) == 1 and errors[0].error is caught.value


def test_reader_over_https_with_a_given_tls_context(tls_certs: TLSCerts) -> None:
    with serving(batch_stream(2), tls=tls_certs.server_context()) as server:
        url = server.url(host="localhost")
        client = EventSourceClient(url, tls=tls_certs.client_context(), reconnect=False)
        assert [e.data for e in take(client, 2)] == ["event 1", "event 2"]


def test_reader_over_https_refuses_an_untrusted_certificate_by_default(tls_certs: TLSCerts) -> None:
    with serving(batch_stream(2), tls=tls_certs.server_context()) as server:
        client = EventSourceClient(server.url(host="localhost"), reconnect=False)
        with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
            take(client, 1)


def test_close_from_another_thread_ends_the_iteration_promptly() -> None:
    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, ping=None)
        es.send("first")
        es.wait(10)

    with assert_no_leaks(), serving(stream) as server:
        client = EventSourceClient(server.url())
        done = threading.Event()
        got: list[ServerSentEvent] = []

        def read() -> None:
            got.extend(client)
            done.set()

        reader = threading.Thread(target=read)
        reader.start()
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        client.close()
        assert done.wait(2)
        reader.join(2)
        assert time.monotonic() - started < 1
    assert [e.data for e in got] == ["first"]


def test_silent_stream_counts_as_dropped_after_the_read_timeout() -> None:
    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, ping=None, retry=0.01)
        if not es.last_event_id:
            es.send("before silence", id="1")
            es.wait(5)  # silent until the client gives up and goes
        else:
            es.send("after reconnect", id="2")
            es.wait(5)

    with serving(stream) as server:
        client = EventSourceClient(server.url(), read_timeout=0.3)
        events = take(client, 2)
        client.close()
    assert [e.data for e in events] == ["before silence", "after reconnect"]
    assert server.requests[1].get("Last-Event-ID") == "1"


def test_refused_connection_is_retried_then_raised_without_reconnect() -> None:
    port = free_port()  # nothing listens on it, and no port-0 bind in this run can be given it
    errors: list[ErrorEvent] = []
    client = EventSourceClient(f"http://127.0.0.1:{port}/", reconnect=False)
    client.onerror = errors.append
    with pytest.raises(ConnectionRefusedError):
        take(client, 1)
    assert "Network error" in errors[0].message


def test_overlong_line_from_the_server_is_refused() -> None:
    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, ping=None)
        es.send("x" * 5000)
        es.wait(5)

    with serving(stream) as server:
        client = EventSourceClient(server.url(), max_line_length=1000)
        with pytest.raises(MessageTooLarge):
            take(client, 1)


def test_bad_urls_are_refused() -> None:
    for url in ("ws://h/", "http:///nohost", "ftp://h/"):
        with pytest.raises(ValueError):
            EventSourceClient(url)


def redirecting(handler: BaseHTTPRequestHandler) -> None:
    """/hop/N redirects to /hop/N-1 (relative Location), /hop/0 streams; /away redirects to ws://."""
    path = handler.path
    if path.startswith("/hop/") and path != "/hop/0":
        location = f"{int(path.rsplit('/', 1)[1]) - 1}"
    elif path == "/away":
        location = "ws://127.0.0.1:1/"
    else:
        batch_stream(2)(handler)
        return
    handler.send_response(307)
    handler.send_header("Location", location)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def test_reader_follows_redirects_like_fetch() -> None:
    with serving(redirecting) as server:
        client = EventSourceClient(server.url("/hop/3"), reconnect=False)
        assert [e.data for e in take(client, 2)] == ["event 1", "event 2"]
    assert [r["path"] for r in server.requests] == ["/hop/3", "/hop/2", "/hop/1", "/hop/0"]


def test_too_many_redirects_or_a_redirect_away_from_http_stop_the_reader() -> None:
    with serving(redirecting) as server:
        with pytest.raises(HandshakeError, match="status 307"):
            take(EventSourceClient(server.url("/hop/9"), reconnect=False), 1)
        assert len(server.requests) == 6  # the request and five redirects
        with pytest.raises(HandshakeError, match="http:// or https://"):
            take(EventSourceClient(server.url("/away"), reconnect=False), 1)


Script = Callable[[socket.socket, int], None]


STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"


@contextmanager
def scripted_server(script: Script) -> Iterator[tuple[int, list[bytes]]]:
    """A raw server: each connection's request head is recorded, then ``script(conn, index)`` runs.

    The connection is closed when the script returns; ``stop`` (set on exit) ends waiting scripts.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    heads: list[bytes] = []
    threads: list[threading.Thread] = []

    def serve(conn: socket.socket, index: int) -> None:
        with conn:
            conn.settimeout(5)
            try:
                heads.append(read_until(conn, b"\r\n\r\n"))
                script(conn, index)
            except OSError:
                pass  # the client went first

    def accept() -> None:
        index = 0
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            thread = threading.Thread(target=serve, args=(conn, index))
            threads.append(thread)
            thread.start()
            index += 1

    acceptor = threading.Thread(target=accept)
    acceptor.start()
    try:
        yield listener.getsockname()[1], heads
    finally:
        STOP.set()
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        acceptor.join(5)
        for thread in threads:
            thread.join(5)
        STOP.clear()


STOP = threading.Event()


def test_a_retry_too_large_for_any_timer_is_capped_and_the_reader_keeps_waiting(no_leaks: None) -> None:
    def script(conn: socket.socket, index: int) -> None:
        conn.sendall(STREAM_HEAD + b"retry: 100000000000000000000000\n\ndata: a\n\n")

    with scripted_server(script) as (port, _):
        client = EventSourceClient(f"http://127.0.0.1:{port}/")
        reader, events, errors = read_in_thread(client)
        assert wait_for(lambda: bool(events) and client.ready_state is ReadyState.CONNECTING)
        reader.join(0.3)
        assert not errors, errors  # OverflowError from the reconnection wait, before the fix
        assert reader.is_alive()  # waiting to reconnect, as told
        assert client.retry == MAX_RETRY_MS / 1000
        client.close()
        reader.join(5)
        assert not reader.is_alive() and not errors
    assert [e.data for e in events] == ["a"]


@pytest.mark.parametrize("interim", [b"HTTP/1.1 100 Continue\r\n\r\n",
                                     b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                                     b"HTTP/1.1 103 Early Hints\r\nLink: </t.js>; rel=preload\r\n\r\n"])
def test_interim_1xx_responses_before_the_stream_are_skipped(no_leaks: None, interim: bytes) -> None:
    # RFC 9110 section 15.2: a client must parse 1xx responses before the final one.
    def script(conn: socket.socket, index: int) -> None:
        conn.sendall(interim)
        conn.sendall(STREAM_HEAD + b"data: after hints\n\n")
        STOP.wait(5)

    with scripted_server(script) as (port, _):
        client = EventSourceClient(f"http://127.0.0.1:{port}/", reconnect=False)
        events = take(client, 1)
        client.close()
        assert client.status_code == 200
    assert [e.data for e in events] == ["after hints"]


def test_a_response_head_trickled_byte_by_byte_times_out_within_connect_timeout(no_leaks: None) -> None:
    # The class says connect_timeout bounds the response head too: a deadline, not a per-recv limit.
    def script(conn: socket.socket, index: int) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            conn.sendall(bytes([byte]))
            if STOP.wait(0.1):
                return

    with scripted_server(script) as (port, _):
        client = EventSourceClient(f"http://127.0.0.1:{port}/", reconnect=False, connect_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            take(client, 1, timeout=10)
        assert time.monotonic() - started < 2.0


def test_a_unicode_event_id_survives_a_reconnection_through_our_reader_and_writer(no_leaks: None) -> None:
    seen: list[str] = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, retry=0.05, ping=None)
        seen.append(es.last_event_id)
        es.send(f"after {es.last_event_id!r}", id="\u65e5\u672c-\u20ac-1")
        es.close()

    with serving(stream) as server:
        client = EventSourceClient(server.url())
        events = take(client, 2)
        client.close()
    assert seen[:2] == ["", "\u65e5\u672c-\u20ac-1"]
    assert [e.last_event_id for e in events] == ["\u65e5\u672c-\u20ac-1"] * 2
