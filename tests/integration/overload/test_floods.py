"""The shipped servers under floods, each server in a subprocess: a silent flood past the
descriptor limit, slowloris heads, and refusals that cost no thread and no traceback."""

from __future__ import annotations

import socket

import pytest

from tests.integration.overload.support import ServerProcess, read_head, silent_flood, slowloris

FLOOD_NOFILE = 256  # the server's descriptor limit: low, so that the flood passes it
FLOOD_COUNT = 400  # silent connections, past that limit
SERVED_WITHIN = 20.0  # seconds until a legitimate client must be served again
LOW_CPU = 0.25  # share of one core: a spinning accept loop showed 0.5 to 1.0
SLOW_COUNT = 300
CUT_WITHIN = 20.0

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("kind", ["demo", "raw"])
def test_silent_flood_past_the_descriptor_limit_keeps_cpu_low_and_serves_again(kind: str) -> None:
    with ServerProcess(kind, nofile=FLOOD_NOFILE) as server:
        result = silent_flood(server, FLOOD_COUNT, limit=SERVED_WITHIN)
        log = server.log()
    assert result["cpu_share"] < LOW_CPU, result
    assert result["served_after_s"] is not None, result
    assert "Traceback" not in log, log[-3000:]
    assert "server overloaded" in log, log[-3000:]


def test_accept_pauses_at_the_descriptor_limit_instead_of_spinning() -> None:
    # A connection limit far above the descriptor limit: accept itself fails (EMFILE).
    with ServerProcess("raw", "--max-connections", "100000", nofile=FLOOD_NOFILE) as server:
        result = silent_flood(server, FLOOD_COUNT, limit=SERVED_WITHIN)
        log = server.log()
    assert result["cpu_share"] < LOW_CPU, result
    assert result["served_after_s"] is not None, result
    assert "accept failed (EMFILE)" in log, log[-3000:]


@pytest.mark.parametrize("kind", ["demo", "serve", "raw"])
def test_slowloris_connections_are_all_cut_within_20_s(kind: str) -> None:
    with ServerProcess(kind) as server:
        result = slowloris(server, SLOW_COUNT, limit=CUT_WITHIN)
        log = server.log()
    assert result["cut_within_limit"] == SLOW_COUNT, result
    assert "Traceback" not in log, log[-3000:]


def test_a_connection_beyond_max_connections_gets_a_fast_503_with_retry_after() -> None:
    with ServerProcess("raw", "--max-connections", "2") as server:
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
        try:
            for sock in held:  # both admitted: each has a thread waiting for its head
                sock.sendall(b"GET / HTTP/1.1\r\n")
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as extra:
                extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                status, head, _rest = read_head(extra)
        finally:
            for sock in held:
                sock.close()
    assert status == 503, head
    assert b"\r\nRetry-After: " in head, head
