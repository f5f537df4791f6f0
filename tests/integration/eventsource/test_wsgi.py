"""The WSGI form of the writer (EventSourceResponse) under real WSGI servers: wsgiref, werkzeug and
gunicorn (gthread). Events stream one by one, the close event fires when the client goes, and our
reader resumes across reconnections through each server's framing (chunked or until-close)."""

from __future__ import annotations

import gc
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from faye_websocket.events import ReadyState
from faye_websocket.eventsource.client import EventSourceClient
from faye_websocket.eventsource.watcher import WATCH_DELAY
from faye_websocket.eventsource.writer import EventSource
from faye_websocket.eventsource.wsgi import COALESCE_LIMIT, EventSourceResponse
from tests.integration.components import (
    Process,
    TLSCerts,
    gunicorn_server,
    werkzeug_server,
    wsgiref_server,
)
from tests.integration.eventsource_support import (
    open_stream,
    read_in_thread,
    read_to_eof,
    read_until,
    take,
    wait_for,
)
from tests.paths import REPO_ROOT

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def batch_app(per_connection: int = 3, ping: float | None = None,
              streams: list[EventSourceResponse] | None = None) -> App:
    """Sends ``per_connection`` events numbered on from Last-Event-ID from a producer thread, then ends."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not EventSource.is_event_source(environ):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not an event source\n"]
        es = EventSourceResponse(environ, start_response, retry=0.05, ping=ping)
        if streams is not None:
            streams.append(es)
            return es  # the test drives this stream itself
        start = int(es.last_event_id or 0)

        def produce() -> None:
            for n in range(start + 1, start + per_connection + 1):
                es.send(f"event {n}", event="tick" if n % 2 else None, id=n)
            es.close()

        threading.Thread(target=produce, daemon=True).start()
        return es

    return application


def test_wsgi_stream_bytes_are_exact_and_each_event_is_flushed() -> None:
    streams: list[EventSourceResponse] = []
    with wsgiref_server(batch_app(streams=streams)) as port, open_stream(port) as sock:
        data = read_until(sock, b"retry: 50\r\n\r\n")
        es = streams[0]
        assert es.send("one", event="e", id=0)
        data = read_until(sock, b"data: one\r\n\r\n", buffer=data)  # flushed before the next send
        assert es.send("a\nb")
        es.close()
        data += read_to_eof(sock)
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"Content-Type: text/event-stream" in head and b"Cache-Control: no-cache, no-store" in head
    assert body == b"retry: 50\r\n\r\nevent: e\r\nid: 0\r\ndata: one\r\n\r\ndata: a\ndata: b\r\n\r\n"
    assert not es.send("late")


def test_wsgi_client_that_goes_away_fires_close_within_a_ping_interval() -> None:
    streams: list[EventSourceResponse] = []
    closed = threading.Event()
    with wsgiref_server(batch_app(ping=0.2, streams=streams)) as port:
        with open_stream(port) as sock:
            read_until(sock, b"retry")
            streams[0].on("close", lambda event: closed.set())
        assert closed.wait(3.0), "the server never noticed the client leave"
        assert not streams[0].send("gone")


def test_wsgi_idle_stream_sends_pings() -> None:
    streams: list[EventSourceResponse] = []
    with wsgiref_server(batch_app(ping=0.1, streams=streams)) as port, open_stream(port) as sock:
        read_until(sock, b":\r\n\r\n:\r\n\r\n", timeout=3)
        streams[0].close()


def test_wsgi_send_waits_while_the_queue_is_full_and_close_releases_it() -> None:
    environ = {"REQUEST_METHOD": "GET", "HTTP_ACCEPT": "text/event-stream", "HTTP_HOST": "h"}
    es = EventSourceResponse(environ, lambda status, headers: None, queue_size=1, retry=None)
    assert es.send("first")
    results: list[bool] = []
    sender = threading.Thread(target=lambda: results.append(es.send("second")))
    sender.start()
    sender.join(0.2)
    assert sender.is_alive()  # blocked: the queue holds one event
    assert next(es) == b"data: first\r\n\r\n"
    sender.join(2)
    assert results == [True]
    assert es.close()
    assert list(es) == [b"data: second\r\n\r\n"]  # queued events are still delivered


def test_wsgi_events_waiting_together_leave_in_one_bounded_block() -> None:
    environ = {"REQUEST_METHOD": "GET", "HTTP_ACCEPT": "text/event-stream", "HTTP_HOST": "h"}
    es = EventSourceResponse(environ, lambda status, headers: None, queue_size=100, retry=None)
    big = "b" * (COALESCE_LIMIT // 2)
    for text in ("one", "two", big, big, "last"):
        assert es.send(text)
    es.close()
    blocks = list(es)
    # Joined up to COALESCE_LIMIT bytes, in order, never splitting an event.
    assert blocks[0] == b"data: one\r\n\r\ndata: two\r\n\r\n" + f"data: {big}\r\n\r\n".encode()
    assert blocks[1] == f"data: {big}\r\n\r\n".encode() + b"data: last\r\n\r\n"
    assert len(blocks) == 2 and all(len(block) <= COALESCE_LIMIT for block in blocks)


@pytest.mark.parametrize("server", [wsgiref_server, werkzeug_server], ids=["wsgiref", "werkzeug"])
def test_our_reader_resumes_across_reconnections_under_wsgi_servers(
    server: Callable[[App], Any],
) -> None:
    with server(batch_app()) as port:
        client = EventSourceClient(f"http://127.0.0.1:{port}/events", read_timeout=10)
        events = take(client, 7)
        client.close()
    assert [e.data for e in events] == [f"event {n}" for n in range(1, 8)]
    assert [e.type for e in events[:2]] == ["tick", "message"]


GUNICORN_APP = """
    from tests.integration.eventsource.test_wsgi import batch_app, announcing_app, announcing_stalled_app
    application = batch_app()
    announcing = announcing_app()
    stalled = announcing_stalled_app
"""


def announcing_app() -> App:
    """Streams one event and prints "stream closed" when the close event fires (no pings)."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        es = EventSourceResponse(environ, start_response, ping=None, retry=None)
        es.on("close", lambda event: print("stream closed", file=sys.stderr, flush=True))
        es.send("hello")
        return es

    return application


def test_werkzeug_client_that_goes_away_is_noticed_without_a_write() -> None:
    streams: list[EventSourceResponse] = []
    closed = threading.Event()
    with werkzeug_server(batch_app(ping=None, streams=streams)) as port:
        with open_stream(port) as sock:
            read_until(sock, b"retry")
            streams[0].on("close", lambda event: closed.set())
            started = time.monotonic()
        assert closed.wait(WATCH_DELAY + 2.0), "the departure was not noticed"
        assert time.monotonic() - started < 1.0


@contextmanager
def gunicorn_sse_app(
    tmp_path: Path, app: str, threads: int = 4, probe: bool = True
) -> Iterator[tuple[int, Process]]:
    """gunicorn -k gthread with ``threads`` worker threads serving ``sse_app:<app>`` (GUNICORN_APP).

    With ``probe``, a plain GET (answered 404) waits for the worker to have imported the app.
    """
    (tmp_path / "sse_app.py").write_text(textwrap.dedent(GUNICORN_APP))
    with gunicorn_server(f"sse_app:{app}", threads=threads, chdir=tmp_path, pythonpath=REPO_ROOT,
                         ready_path="/ready" if probe else None) as running:
        yield running


def test_gunicorn_client_that_goes_away_is_noticed_without_a_write(tmp_path: Path) -> None:
    with gunicorn_sse_app(tmp_path, "announcing", probe=False) as (port, process):
        with open_stream(port) as sock:
            read_until(sock, b"data: hello")
        deadline = time.monotonic() + 2.0
        while "stream closed" not in process.output() and time.monotonic() < deadline:
            time.sleep(0.02)  # the close happens in another process: poll its output, bounded
        assert "stream closed" in process.output()


def test_our_reader_resumes_across_reconnections_under_gunicorn_gthread(tmp_path: Path) -> None:
    with gunicorn_sse_app(tmp_path, "application") as (port, _):
        client = EventSourceClient(f"http://127.0.0.1:{port}/events", read_timeout=10)
        events = take(client, 7)
        client.close()
        assert client.headers.get("transfer-encoding") == "chunked"
    assert [e.data for e in events] == [f"event {n}" for n in range(1, 8)]


def test_werkzeug_over_tls_streams_to_our_reader_and_notices_departure(tls_certs: TLSCerts) -> None:
    streams: list[EventSourceResponse] = []
    closed = threading.Event()
    with werkzeug_server(batch_app(streams=streams), tls=tls_certs.server_context()) as port:
        client = EventSourceClient(f"https://localhost:{port}/", tls=tls_certs.client_context())
        events: list[str] = []

        def read() -> None:
            for event in client:
                events.append(event.data)
                client.close()

        reader = threading.Thread(target=read)
        reader.start()
        deadline = time.monotonic() + 5
        while not streams and time.monotonic() < deadline:
            time.sleep(0.01)
        es = streams[0]
        assert es.url == f"https://localhost:{port}/"
        es.on("close", lambda event: closed.set())
        es.send("over tls")
        reader.join(5)
        assert events == ["over tls"]
        assert closed.wait(WATCH_DELAY + 2.0), "the TLS client's departure was not noticed"


def stalled_client_app(streams: list[EventSourceResponse]) -> Callable[..., Any]:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> EventSourceResponse:
        es = EventSourceResponse(environ, start_response, ping=0.2, retry=None, queue_size=4)
        streams.append(es)
        return es

    return application


@pytest.mark.parametrize("server", [werkzeug_server, wsgiref_server], ids=["werkzeug", "wsgiref"])
def test_wsgi_sends_to_a_client_that_reads_nothing_stop_within_three_ping_intervals(
    no_leaks: None,
    server: Any,
) -> None:
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
        assert closed.wait(WATCH_DELAY + 2.0)
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
    no_leaks: None,
    tmp_path: Path,
) -> None:
    # One worker thread: the second request is served only if the stalled stream let it go.
    with gunicorn_sse_app(tmp_path, "stalled", threads=1) as (port, process), open_stream(port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert wait_for(lambda: "stream closed" in process.output(), timeout=8), process.output()
        assert "send returned False" in process.output()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as other:
            other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_until(other, b"\r\n").startswith(b"HTTP/1.1 404")


@pytest.mark.parametrize("server", [werkzeug_server, wsgiref_server], ids=["werkzeug", "wsgiref"])
def test_wsgi_stream_without_retry_sends_its_head_at_once(no_leaks: None, server: Any) -> None:
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


def test_wsgi_events_queued_before_the_server_iterates_do_not_count_as_a_stall(no_leaks: None) -> None:
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
