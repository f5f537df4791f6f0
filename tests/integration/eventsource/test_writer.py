"""The EventSource writer on real loopback sockets behind http.server: exact bytes, disconnect
detection by EOF, pings, thread safety, TLS, and the watcher thread's lifetime."""

from __future__ import annotations

import gc
import socket
import ssl
import struct
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest

from faye_websocket.driver.http import HeadBuffer, Headers, Request, parse_request
from faye_websocket.events import CloseEvent, ReadyState
from faye_websocket.eventsource.parser import EventStreamParser
from faye_websocket.eventsource.watcher import WATCH_DELAY, WATCHER
from faye_websocket.eventsource.writer import EventSource
from tests.integration.components import TLSCerts, assert_no_leaks
from tests.integration.eventsource_support import open_stream, read_to_eof, read_until, serving, wait_for

WAIT_CLOSED = 5.0  # seconds a waiter may take to see a close on a loaded machine
HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache, no-store\r\n"
    b"Connection: close\r\n"
)


class Streams:
    """Collects the EventSource objects a server made, and their close events."""

    def __init__(self) -> None:
        self.made: list[EventSource] = []
        self.closes: list[CloseEvent] = []
        self.opened = threading.Event()
        self.closed = threading.Event()
        self.lock = threading.Lock()

    def adopt(self, stream: EventSource) -> EventSource:
        def on_close(event: CloseEvent) -> None:
            with self.lock:
                self.closes.append(event)
            self.closed.set()

        stream.on("close", on_close)
        with self.lock:
            self.made.append(stream)
        self.opened.set()
        return stream

    def first(self, timeout: float = 5.0) -> EventSource:
        assert self.opened.wait(timeout), "no EventSource was made"
        return self.made[0]


def test_every_send_form_arrives_as_exact_bytes() -> None:
    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, headers={"X-Custom": "yes"}, retry=1, ping=None)
        assert es.send("plain")
        assert es.send("named", event="update")
        assert es.send("with id", id=1)
        assert es.send("zero", id=0)
        assert es.send("both", event="e", id="x")
        assert es.send("multi\nline\r\nmixed\rbreaks")
        assert es.ping()
        es.close()

    with assert_no_leaks(), serving(stream) as server, open_stream(server.port) as sock:
        data = read_to_eof(sock)
    assert data == HEAD + (
        b"X-Custom: yes\r\n\r\n"
        b"retry: 1000\r\n\r\n"
        b"data: plain\r\n\r\n"
        b"event: update\r\ndata: named\r\n\r\n"
        b"id: 1\r\ndata: with id\r\n\r\n"
        b"id: 0\r\ndata: zero\r\n\r\n"
        b"event: e\r\nid: x\r\ndata: both\r\n\r\n"
        b"data: multi\ndata: line\r\ndata: mixed\rdata: breaks\r\n\r\n"
        b":\r\n\r\n"
    )


def test_url_and_last_event_id_come_from_the_request() -> None:
    streams = Streams()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        streams.adopt(EventSource.from_handler(handler, ping=None)).close()

    with serving(stream) as server:
        with open_stream(server.port, "/s?a=1", headers={"Last-Event-ID": "41"}) as sock:
            read_to_eof(sock)
        with open_stream(server.port, "/s?lastEventId=7", headers={"X-Forwarded-Proto": "https"}) as sock:
            read_to_eof(sock)
    first, second = streams.made
    assert (first.url, first.last_event_id) == (f"http://127.0.0.1:{server.port}/s?a=1", "41")
    assert (second.url, second.last_event_id) == (f"https://127.0.0.1:{server.port}/s?lastEventId=7", "7")


def test_close_fires_one_close_event_and_later_sends_return_false() -> None:
    streams = Streams()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = streams.adopt(EventSource.from_handler(handler, ping=None))
        es.onclose = lambda event: streams.closes.append(event)
        assert es.close()
        assert not es.close()
        assert not es.send("late")
        assert es.ready_state is ReadyState.CLOSED

    with serving(stream) as server, open_stream(server.port) as sock:
        assert read_to_eof(sock).endswith(b"retry: 5000\r\n\r\n")
    assert len(streams.closes) == 2  # once for on("close"), once for onclose: one event
    assert streams.closes[0] is streams.closes[1]


def test_a_subclass_that_dispatches_events_itself_gets_the_close_event_without_listeners() -> None:
    dispatched: list[object] = []

    class Dispatching(EventSource):
        def dispatch_event(self, event: object) -> None:  # type: ignore[override]
            dispatched.append(event)

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = Dispatching.from_handler(handler, ping=None)
        assert es.close()

    with serving(stream) as server, open_stream(server.port) as sock:
        read_to_eof(sock)
    assert [type(event) for event in dispatched] == [CloseEvent]


def test_client_that_disconnects_is_noticed_by_eof_with_no_write_pending() -> None:
    streams = Streams()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        streams.adopt(EventSource.from_handler(handler, ping=None))  # finish waits for the close

    with assert_no_leaks(), serving(stream) as server:
        sock = open_stream(server.port)
        read_until(sock, b"retry: 5000\r\n\r\n")
        es = streams.first()
        started = time.monotonic()
        sock.close()
        assert streams.closed.wait(WATCH_DELAY + 2.0), "close event did not fire after the client left"
        elapsed = time.monotonic() - started
        assert es.ready_state is ReadyState.CLOSED
        assert es.wait(1.0)
    assert len(streams.closes) == 1
    assert elapsed < WATCH_DELAY + 1.0  # watched from WATCH_DELAY after it opened at the latest


def test_client_reset_is_noticed_too() -> None:
    streams = Streams()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        streams.adopt(EventSource.from_handler(handler, ping=None))

    with serving(stream) as server:
        sock = open_stream(server.port)
        read_until(sock, b"\r\n\r\nretry")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # SO_LINGER 0: an RST instead of a FIN
        assert streams.closed.wait(WATCH_DELAY + 2.0)
    assert len(streams.closes) == 1


def test_pings_are_sent_every_interval() -> None:
    def stream(handler: BaseHTTPRequestHandler) -> None:
        EventSource.from_handler(handler, ping=0.1, retry=None)

    with serving(stream) as server, open_stream(server.port) as sock:
        started = time.monotonic()
        data = read_until(sock, b":\r\n\r\n:\r\n\r\n:\r\n\r\n", timeout=3.0)
        assert 0.25 < time.monotonic() - started < 2.0
        assert data.endswith(b"\r\n\r\n:\r\n\r\n:\r\n\r\n:\r\n\r\n")


def test_sends_from_several_threads_do_not_interleave() -> None:
    threads_count, per_thread = 4, 100
    payload = "x" * 2000

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, ping=0.01)  # pings race the sends too

        def sender(n: int) -> None:
            for i in range(per_thread):
                assert es.send(payload, event=f"t{n}", id=f"{n}-{i}")

        senders = [threading.Thread(target=sender, args=(n,)) for n in range(threads_count)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join(20)
        es.close()

    with serving(stream) as server, open_stream(server.port) as sock:
        data = read_to_eof(sock, timeout=20)
    body = data.split(b"\r\n\r\n", 1)[1]
    events = EventStreamParser().feed(body)
    assert len(events) == threads_count * per_thread
    assert all(event.data == payload for event in events)
    for n in range(threads_count):
        ids = [e.last_event_id for e in events if e.type == f"t{n}"]
        assert ids == [f"{n}-{i}" for i in range(per_thread)]


def test_close_from_another_thread_wakes_a_send_blocked_on_a_full_socket() -> None:
    streams = Streams()
    results: list[bool] = []
    blocked = threading.Event()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = streams.adopt(EventSource.from_handler(handler, ping=None))
        chunk = "y" * 65536
        while True:
            blocked.set()  # from the second round on, a send may block
            ok = es.send(chunk)
            if not ok:
                results.append(ok)
                return

    with serving(stream) as server, open_stream(server.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert blocked.wait(5)
        es = streams.first()
        time.sleep(0.3)  # let the sender fill the buffers: there is no event for "send blocked"
        started = time.monotonic()
        assert es.close()
        assert es.wait(2)
        deadline = time.monotonic() + 2
        while not results and time.monotonic() < deadline:
            time.sleep(0.01)
        assert results == [False]
        assert time.monotonic() - started < 2


def test_a_client_that_reads_nothing_is_dropped_after_three_ping_intervals() -> None:
    streams = Streams()
    sent: list[bool] = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = streams.adopt(EventSource.from_handler(handler, ping=0.2))
        while es.send("z" * 65536):
            pass
        sent.append(False)

    with serving(stream) as server, open_stream(server.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        started = time.monotonic()
        assert streams.closed.wait(5.0), "a stalled client was never dropped"
        assert 0.5 < time.monotonic() - started < 3.0


def test_stream_over_tls_has_https_url_and_notices_disconnect(tls_certs: TLSCerts) -> None:
    streams = Streams()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = streams.adopt(EventSource.from_handler(handler, ping=None, retry=2))
        es.send("secret", id="1")

    with assert_no_leaks(), serving(stream, tls=tls_certs.server_context()) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock = tls_certs.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
        sock.sendall(b"GET /tls HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        data = read_until(sock, b"data: secret\r\n\r\n")
        assert data.endswith(b"retry: 2000\r\n\r\nid: 1\r\ndata: secret\r\n\r\n")
        es = streams.first()
        assert es.url == "https://localhost/tls"
        sock.close()
        assert streams.closed.wait(WATCH_DELAY + 2.0)
    assert len(streams.closes) == 1


def test_watcher_thread_exists_only_while_streams_are_open() -> None:
    streams = Streams()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        streams.adopt(EventSource.from_handler(handler, ping=5))

    with serving(stream) as server:
        sock = open_stream(server.port)
        read_until(sock, b"retry")
        streams.first()
        assert WATCHER.running()
        sock.close()
        assert streams.closed.wait(WATCH_DELAY + 2.0)
    deadline = time.monotonic() + 2
    while WATCHER.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not WATCHER.running()


def test_bad_options_are_refused_before_anything_is_written() -> None:
    errors: list[BaseException] = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        for options in ({"ping": -1}, {"retry": -1}, {"headers": {"X": "a\nb"}}):
            try:
                EventSource.from_handler(handler, **options)
            except ValueError as error:
                errors.append(error)
        EventSource.from_handler(handler, ping=None).close()

    with serving(stream) as server, open_stream(server.port) as sock:
        assert read_to_eof(sock).count(b"HTTP/1.1 200 OK") == 1
    assert len(errors) == 3


@pytest.mark.parametrize("ping", [None, 0])
def test_ping_none_or_zero_turns_pings_off(ping: float | None) -> None:
    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, ping=ping)
        es.wait(0.4)
        es.send("done")
        es.close()

    with serving(stream) as server, open_stream(server.port) as sock:
        assert b":\r\n" not in read_to_eof(sock)


def test_close_event_fires_once_when_close_races_from_many_threads_and_the_client_leaves() -> None:
    streams = Streams()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        streams.adopt(EventSource.from_handler(handler, ping=None))

    with serving(stream) as server:
        sock = open_stream(server.port)
        read_until(sock, b"retry")
        es = streams.first()
        barrier = threading.Barrier(9)
        results: list[bool] = []

        def closer() -> None:
            barrier.wait(5)
            results.append(es.close())

        threads = [threading.Thread(target=closer) for _ in range(8)]
        for thread in threads:
            thread.start()
        barrier.wait(5)
        sock.close()  # the watcher sees EOF at about the same time
        for thread in threads:
            thread.join(5)
        assert es.wait(2)
    assert len(streams.closes) == 1
    assert results.count(True) <= 1


def test_constructor_works_on_a_raw_socket_with_a_request_parsed_by_hand() -> None:
    """The socketserver path: no http.server, the head parsed with driver.http."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    made: list[EventSource] = []

    def serve_one() -> None:
        conn, _ = listener.accept()
        buffer = HeadBuffer()
        found = None
        while found is None:
            found = buffer.feed(conn.recv(4096))
        request = parse_request(found[0])
        assert EventSource.is_event_source(request)
        es = EventSource(request, conn, ping=None, retry=None)
        made.append(es)
        es.send("raw", event="r")
        es.close()

    server = threading.Thread(target=serve_one)
    server.start()
    with listener, open_stream(port, "/raw?lastEventId=3") as sock:
        data = read_to_eof(sock)
        server.join(5)
    assert data == HEAD + b"\r\nevent: r\r\ndata: raw\r\n\r\n"
    assert (made[0].url, made[0].last_event_id) == (f"http://127.0.0.1:{port}/raw?lastEventId=3", "3")


def test_wait_returns_true_for_every_waiter_once_closed_and_false_on_timeout_before() -> None:
    streams = Streams()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        streams.adopt(EventSource.from_handler(handler, ping=None))

    with serving(stream) as server, open_stream(server.port) as sock:
        read_until(sock, b"retry")
        es = streams.first()
        assert es.wait(0) is False
        assert es.wait(-1) is False  # as threading.Event.wait: a timeout <= 0 only looks
        assert es.wait(0.05) is False
        results: list[bool] = []
        waiters = [threading.Thread(target=lambda: results.append(es.wait(WAIT_CLOSED))) for _ in range(3)]
        for waiter in waiters:
            waiter.start()
        es.close()
        for waiter in waiters:
            waiter.join(WAIT_CLOSED)
        assert results == [True, True, True]
        assert es.wait() is True and es.wait(0) is True  # and stays so


def test_a_request_of_another_kind_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(TypeError):
        EventSource("GET /", sock)  # type: ignore[arg-type]


def test_once_off_and_a_failing_listener() -> None:
    calls: list[str] = []
    dispatched = threading.Event()  # the close event fires after the socket closes: wait for it

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, ping=None)

        def removed(event: CloseEvent) -> None:
            calls.append("removed")

        def failing(event: CloseEvent) -> None:
            raise RuntimeError("listener bug")

        es.on("close", removed)
        es.off("close", removed)
        es.on("close", failing)  # logged, and the next listener still runs
        es.once("close", lambda event: calls.append("once"))
        es.on("close", lambda event: dispatched.set())
        es.close()

    with serving(stream) as server, open_stream(server.port) as sock:
        read_to_eof(sock)
        assert dispatched.wait(5.0)
    assert calls == ["once"]


@contextmanager
def tls_stream(
    tls_certs: TLSCerts, receive_buffer: int | None = None
) -> Iterator[tuple[EventSource, ssl.SSLSocket]]:
    """Our writer's stream over TLS and its client, past the response head; the client closes on exit.

    ``receive_buffer`` shrinks the client's SO_RCVBUF (set before the handshake) so that a client
    that reads nothing fills the window quickly.
    """
    streams: list[EventSource] = []
    ready = threading.Event()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        streams.append(EventSource.from_handler(handler, ping=None, retry=None))
        ready.set()

    with serving(stream, tls=tls_certs.server_context()) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        if receive_buffer is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        client = tls_certs.client_context().wrap_socket(raw, server_hostname="localhost")
        try:
            client.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
            read_until(client, b"\r\n\r\n")
            assert ready.wait(5)
            yield streams[0], client
        finally:
            client.close()


def test_closing_a_tls_stream_never_puts_plaintext_on_the_wire(
    no_leaks: None,
    tls_certs: TLSCerts, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SSLSocket.shutdown() drops its TLS object before it shuts the TCP connection down; a writer
    # thread whose sendall loop runs in between sends the rest of its event in the clear. Replay
    # that interleaving deterministically: the "other thread" writes when the TCP shutdown starts.
    with tls_stream(tls_certs) as (es, client):
        real_shutdown = socket.socket.shutdown

        def interleaved_shutdown(sock: socket.socket, how: int) -> None:
            if isinstance(sock, ssl.SSLSocket) and sock is es._sock:
                try:
                    sock.send(b"SECRET-EVENT-DATA")  # what the writer's next loop turn would send
                except (OSError, ValueError):
                    pass
            real_shutdown(sock, how)

        monkeypatch.setattr(socket.socket, "shutdown", interleaved_shutdown)
        es.close()
        monkeypatch.undo()
        raw_bytes = bytearray()
        client_plain = socket.socket(fileno=socket.dup(client.fileno()))  # wrap_socket detached raw
        client_plain.settimeout(5)
        try:
            while chunk := client_plain.recv(65536):
                raw_bytes += chunk
        except OSError:
            pass
        finally:
            client_plain.close()
        assert b"SECRET-EVENT-DATA" not in raw_bytes


def test_close_wakes_a_send_blocked_on_a_tls_client_that_reads_nothing(
    no_leaks: None,
    tls_certs: TLSCerts,
) -> None:
    with tls_stream(tls_certs, receive_buffer=4096) as (es, _):
        results: list[bool] = []

        def produce() -> None:
            for _ in range(2000):
                if not es.send("y" * 65536):
                    results.append(False)
                    return
            results.append(True)

        producer = threading.Thread(target=produce)
        producer.start()

        def blocked() -> bool:
            started = es._writing_since
            return started is not None and time.monotonic() - started > 0.3

        assert wait_for(blocked)  # a sendall has been blocked for a while: the window is full
        assert es.close()
        producer.join(5)
        assert not producer.is_alive()
        assert results == [False]


def test_peer_gone_on_a_socket_with_a_timeout_neither_blocks_nor_reports_a_live_peer_gone(
    no_leaks: None,
) -> None:
    # A handler class with ``timeout`` set gives the connection a socket timeout, under which
    # CPython's recv() polls first even with MSG_DONTWAIT; a watcher woken without data (a stale
    # readiness) would block for the timeout and then read socket.timeout as "the client left".
    from faye_websocket.eventsource.writer import peer_gone

    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(2.0)
        started = time.monotonic()
        assert peer_gone(ours) is False
        assert time.monotonic() - started < 0.5
        theirs.sendall(b"stray")
        assert peer_gone(ours) is False  # bytes are drained, the peer is still there
        theirs.shutdown(socket.SHUT_WR)
        assert peer_gone(ours) is True
    closed = socket.socket()
    closed.close()
    assert peer_gone(closed) is True  # a view closed under the watcher never raises


@pytest.mark.parametrize(("options", "nodelay_on"),
                         [({}, True), ({"nodelay": True}, True), ({"nodelay": False}, False)])
def test_nodelay_is_on_by_default_and_false_leaves_nagle_on(
        options: dict[str, bool], nodelay_on: bool) -> None:
    seen: list[int] = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, ping=None, **options)
        seen.append(handler.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        for n in range(3):
            es.send(f"bulk {n}")
        es.close()

    with serving(stream) as server, open_stream(server.port) as sock:
        data = read_to_eof(sock)
    # The same bytes either way.
    assert data.endswith(b"data: bulk 0\r\n\r\ndata: bulk 1\r\n\r\ndata: bulk 2\r\n\r\n")
    assert [bool(value) for value in seen] == [nodelay_on]


def test_a_nodelay_that_is_not_a_bool_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(TypeError):
        EventSource(Request("GET", "/", Headers(), "HTTP/1.1"), sock, nodelay=1)  # type: ignore[arg-type]


def test_a_finished_handler_and_its_stream_are_freed_without_a_garbage_collection() -> None:
    # from_handler overrides the handler's finish with a function that refers to the handler;
    # left in place, that cycle kept every handler, its request and its stream until a
    # collection ran.
    refs: list[weakref.ref[object]] = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, ping=None)
        refs.extend((weakref.ref(handler), weakref.ref(es)))
        es.send("one")
        es.close()

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with serving(stream) as server:
            for _ in range(3):
                with open_stream(server.port) as sock:
                    assert read_to_eof(sock).endswith(b"data: one\r\n\r\n")
            assert wait_for(lambda: len(refs) == 6 and all(ref() is None for ref in refs))
    finally:
        if was_enabled:
            gc.enable()


KERNEL_TICK_US = 10_000  # the kernel keeps a socket timeout in scheduler ticks (1-10 ms)


def test_a_plain_stream_bounds_its_blocking_writes_by_the_stall_limit_in_the_kernel() -> None:
    # The common write is one blocking sendall; the socket's SO_SNDTIMEO is what bounds it.
    from faye_websocket.eventsource.writer import send_timeval, stall_limit

    listener = socket.create_server(("127.0.0.1", 0))
    with listener, socket.create_connection(listener.getsockname()) as client:
        conn, _ = listener.accept()
        es = EventSource(Request("GET", "/"), conn, ping=0.25, send_timeout=30.0)
        try:
            timeval = conn.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, len(send_timeval(1.0)))
            seconds, micros = struct.unpack("ll", timeval)
            assert stall_limit(0.25, 30.0) == 0.75  # three ping intervals, sooner than send_timeout
            assert seconds == 0 and abs(micros - 750_000) <= KERNEL_TICK_US  # read back in ticks
        finally:
            es.close()
        assert client.recv(65536).startswith(b"HTTP/1.1 200 OK")


def test_send_timeval_is_never_zero_and_clamps_what_a_timeval_cannot_hold() -> None:
    from faye_websocket.eventsource.writer import send_timeval

    assert struct.unpack("ll", send_timeval(30.0)) == (30, 0)
    assert struct.unpack("ll", send_timeval(1e-9)) == (0, 1)  # a zero timeval would mean "no timeout"
    assert struct.unpack("ll", send_timeval(1e30)) == (2**31 - 1, 0)
