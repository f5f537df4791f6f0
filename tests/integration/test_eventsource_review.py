"""Review findings on the EventSource writer, its WSGI form and the reader, on real sockets: a
server's huge ``retry``, 1xx interim responses, a response head trickled byte by byte, UTF-8 event
IDs across a reconnection (our reader and Chromium), a client that stops reading under WSGI, and
closing a TLS stream while another thread writes."""

from __future__ import annotations

import gc
import socket
import ssl
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from faye_websocket.events import ReadyState
from faye_websocket.eventsource.client import EventSourceClient
from faye_websocket.eventsource.parser import MAX_RETRY_MS, ServerSentEvent
from faye_websocket.eventsource.writer import EventSource
from faye_websocket.eventsource.wsgi import EventSourceResponse
from tests.integration.components import Process, ResultCollector, TLSCerts, free_port, run_chromium
from tests.integration.eventsource.test_wsgi import require_module, werkzeug_server, wsgiref_server
from tests.integration.eventsource_support import open_stream, read_until, serving, take
from tests.paths import REPO_ROOT

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


@pytest.fixture(autouse=True)
def _no_leaks(no_leaks: None) -> None:
    """Every test here leaves no thread or descriptor behind (tests/conftest.py)."""


Reading = tuple[threading.Thread, list[ServerSentEvent], list[BaseException]]


def read_in_thread(client: EventSourceClient) -> Reading:
    events: list[ServerSentEvent] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            events.extend(client)
        except BaseException as error:  # handed to the test thread
            errors.append(error)

    thread = threading.Thread(target=read)
    thread.start()
    return thread, events, errors


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# The reader


def test_a_retry_too_large_for_any_timer_is_capped_and_the_reader_keeps_waiting() -> None:
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
def test_interim_1xx_responses_before_the_stream_are_skipped(interim: bytes) -> None:
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


def test_a_response_head_trickled_byte_by_byte_times_out_within_connect_timeout() -> None:
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


def test_a_unicode_event_id_survives_a_reconnection_through_our_reader_and_writer() -> None:
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


CHROMIUM_PAGE = """<!doctype html><meta charset="utf-8"><script>
var source = new EventSource('/stream'), ids = [];
source.onmessage = function (event) {
  ids.push(event.lastEventId);
  if (ids.length === 2) {
    source.close();
    fetch('COLLECTOR/result', {method: 'POST', body: JSON.stringify(ids)});
  }
};
</script>"""


def test_chromium_sends_a_unicode_last_event_id_that_the_writer_reads_back(
    result_collector: ResultCollector,
) -> None:
    seen: list[str] = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, retry=0.05, ping=None)
        seen.append(es.last_event_id)
        es.send("x", id="\u65e5\u672c-\u20ac")
        if len(seen) == 1:
            es.close()  # the browser reconnects with Last-Event-ID
        else:
            es.wait(20)

    page = CHROMIUM_PAGE.replace("COLLECTOR", result_collector.url("")).encode()
    with serving(stream, pages={"/page": (page, "text/html; charset=utf-8")}) as server, \
            run_chromium(server.url("/page"), timeout=30) as browser:
        result = result_collector.wait_result(browser.remaining(), browser.output())
    assert result == ["\u65e5\u672c-\u20ac"] * 2
    assert seen[:2] == ["", "\u65e5\u672c-\u20ac"]


# The WSGI form: a client that stops reading while the application keeps sending


def stalled_client_app(streams: list[EventSourceResponse]) -> Callable[..., Any]:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> EventSourceResponse:
        es = EventSourceResponse(environ, start_response, ping=0.2, retry=None, queue_size=4)
        streams.append(es)
        return es

    return application


@pytest.mark.parametrize("server", [werkzeug_server, wsgiref_server], ids=["werkzeug", "wsgiref"])
def test_wsgi_sends_to_a_client_that_reads_nothing_stop_within_three_ping_intervals(server: Any) -> None:
    streams: list[EventSourceResponse] = []
    closed = threading.Event()
    threads_before = set(threading.enumerate())
    with server(stalled_client_app(streams)) as port, open_stream(port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert wait_for(lambda: bool(streams))
        es = streams[0]
        es.on("close", lambda event: closed.set())
        results: list[bool] = []
        chunk = "x" * 65536

        def produce() -> None:
            for _ in range(2000):  # ~128 MiB: far more than the socket buffers hold
                if not es.send(chunk):
                    results.append(False)
                    return
            results.append(True)

        producer = threading.Thread(target=produce)
        producer.start()
        producer.join(5)  # three 0.2 s ping intervals, plus the time to fill the buffers
        stuck = producer.is_alive()
        if stuck:
            es.close()  # release the producer so the test can end
            producer.join(5)
        sock.close()  # lets a server blocked in a write (wsgiref) finish
        assert not stuck, "send() blocked with no bound on a client that reads nothing"
        assert results == [False]
        assert closed.wait(2)
    # werkzeug's request thread leaves its drain selector to the garbage collector when the read
    # after the response fails (serving.py, execute()): let the thread end, then collect it.
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(5)
    gc.collect()


def announcing_stalled_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """For gunicorn: a stream sent to until send() returns False, printing what happened; 404 else."""
    if not EventSource.is_event_source(environ):
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "3")])
        return [b"no\n"]
    es = EventSourceResponse(environ, start_response, ping=0.2, retry=None, queue_size=4)
    es.on("close", lambda event: print("stream closed", file=sys.stderr, flush=True))

    def produce() -> None:
        for _ in range(2000):
            if not es.send("x" * 65536):
                print("send returned False", file=sys.stderr, flush=True)
                return
        print("every send returned True", file=sys.stderr, flush=True)

    threading.Thread(target=produce, daemon=True).start()
    return es


def test_gunicorn_gthread_sends_to_a_client_that_reads_nothing_stop_and_free_the_worker(
    tmp_path: Path,
) -> None:
    require_module("gunicorn")
    (tmp_path / "stall_app.py").write_text(textwrap.dedent("""
        from tests.integration.test_eventsource_review import announcing_stalled_app as application
    """))
    port = free_port()
    root = str(REPO_ROOT)
    # One worker thread: the second request is served only if the stalled stream let it go.
    argv = [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "1", "-b", f"127.0.0.1:{port}",
            "--chdir", str(tmp_path), "--pythonpath", root, "stall_app:application"]
    with Process(argv, name="gunicorn", ready_ports=[("127.0.0.1", port)]) as process, \
            open_stream(port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert wait_for(lambda: "stream closed" in process.output(), timeout=8), process.output()
        assert "send returned False" in process.output()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as other:
            other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_until(other, b"\r\n").startswith(b"HTTP/1.1 404")


# The writer: closing a TLS stream from another thread


def test_closing_a_tls_stream_never_puts_plaintext_on_the_wire(
    tls_certs: TLSCerts, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SSLSocket.shutdown() drops its TLS object before it shuts the TCP connection down; a writer
    # thread whose sendall loop runs in between sends the rest of its event in the clear. Replay
    # that interleaving deterministically: the "other thread" writes when the TCP shutdown starts.
    streams: list[EventSource] = []
    ready = threading.Event()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        streams.append(EventSource.from_handler(handler, ping=None, retry=None))
        ready.set()

    with serving(stream, tls=tls_certs.server_context()) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        client = tls_certs.client_context().wrap_socket(raw, server_hostname="localhost")
        client.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        read_until(client, b"\r\n\r\n")
        assert ready.wait(5)
        es = streams[0]
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
            client.close()
        assert b"SECRET-EVENT-DATA" not in raw_bytes


def test_close_wakes_a_send_blocked_on_a_tls_client_that_reads_nothing(tls_certs: TLSCerts) -> None:
    streams: list[EventSource] = []
    ready = threading.Event()

    def stream(handler: BaseHTTPRequestHandler) -> None:
        streams.append(EventSource.from_handler(handler, ping=None, retry=None))
        ready.set()

    with serving(stream, tls=tls_certs.server_context()) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client = tls_certs.client_context().wrap_socket(raw, server_hostname="localhost")
        try:
            client.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
            read_until(client, b"\r\n\r\n")
            assert ready.wait(5)
            es = streams[0]
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
        finally:
            client.close()


@pytest.mark.parametrize("server", [werkzeug_server, wsgiref_server], ids=["werkzeug", "wsgiref"])
def test_wsgi_stream_without_retry_sends_its_head_at_once(server: Any) -> None:
    # WSGI servers send the head with the first non-empty block (PEP 3333). Without a retry field
    # and before any event, a browser would not see "open", and our reader's head deadline
    # (connect_timeout) would run out on a quiet stream.
    streams: list[EventSourceResponse] = []

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> EventSourceResponse:
        es = EventSourceResponse(environ, start_response, ping=None, retry=None)
        streams.append(es)
        return es

    with server(application) as port:
        client = EventSourceClient(f"http://127.0.0.1:{port}/", connect_timeout=1.0, reconnect=False)
        opened = threading.Event()
        client.onopen = lambda event: opened.set()
        reader, events, errors = read_in_thread(client)
        try:
            assert opened.wait(3), errors
            assert wait_for(lambda: bool(streams))
            streams[0].send("later")
            assert wait_for(lambda: bool(events))
        finally:
            client.close()
            reader.join(5)
            for es in streams:
                es.close()
    assert [e.data for e in events] == ["later"]
    assert not errors


def test_wsgi_events_queued_before_the_server_iterates_do_not_count_as_a_stall() -> None:
    environ = {"REQUEST_METHOD": "GET", "HTTP_ACCEPT": "text/event-stream", "HTTP_HOST": "h"}
    es = EventSourceResponse(environ, lambda status, headers: None, ping=0.05, retry=None, queue_size=1)
    assert es.send("first")
    results: list[bool] = []
    sender = threading.Thread(target=lambda: results.append(es.send("second")))
    sender.start()
    sender.join(0.5)  # ten ping intervals: the application has not returned the response yet
    assert sender.is_alive() and es.ready_state is ReadyState.OPEN
    assert next(es) == b"data: first\r\n\r\n"  # the server starts iterating
    sender.join(2)
    assert results == [True]
    assert next(es) == b"data: second\r\n\r\n"
    assert es.close()


def test_peer_gone_on_a_socket_with_a_timeout_neither_blocks_nor_reports_a_live_peer_gone() -> None:
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
