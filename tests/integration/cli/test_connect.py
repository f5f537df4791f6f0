"""``faye-websocket connect``: each flag against real servers on loopback, without a terminal."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from faye_websocket.server.websocket import WebSocket
from tests.integration.cli.cli_support import CLI, RUN_TIMEOUT, assert_one_line_error, run, serving
from tests.integration.components import ProxyServer, free_port
from tests.integration.server_support import HTTPServerThread, echo


def describe_request(ws: WebSocket) -> None:
    """Server side: first send what the request asked for, then echo."""
    request = ws.request
    assert request is not None
    ws.send(json.dumps({
        "protocol": ws.protocol,
        "x-test": request.headers.get("X-Test"),
        "origin": request.headers.get("Origin"),
        "extensions": request.headers.get("Sec-WebSocket-Extensions"),
    }))
    echo(ws)


def close_with_4000(ws: WebSocket) -> None:
    """Server side: close with an application code at the first message."""
    ws.on("message", lambda event: ws.close(4000, "done here"))


@pytest.fixture
def inspector() -> Iterator[HTTPServerThread]:
    from faye_websocket.extensions.permessage_deflate import PermessageDeflate

    with HTTPServerThread(describe_request, ["irc", "xmpp"], extensions=[PermessageDeflate()]) as server:
        yield server


def described(stdout: str) -> dict[str, str | None]:
    return json.loads(stdout.splitlines()[0])  # type: ignore[no-any-return]


def test_message_arguments_are_sent_and_each_reply_printed() -> None:
    with serving() as (port, _):
        done = run("connect", f"ws://127.0.0.1:{port}/", "hello", "wörld")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hello", "wörld"]
    assert done.stderr == ""


def test_standard_input_lines_are_sent_and_every_reply_printed_before_closing() -> None:
    with serving() as (port, _):
        done = run("connect", f"ws://127.0.0.1:{port}/", input="one\ntwo\r\nthree")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["one", "two", "three"]


def test_execute_sends_without_reading_stdin_and_wait_keeps_listening() -> None:
    with serving() as (port, _):
        done = run("connect", f"ws://127.0.0.1:{port}/", "--execute", "a", "-x", "b", "--wait", "0.5",
                   input="never sent\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["a", "b"]


def test_protocol_header_origin_and_deflate_reach_the_server(inspector: HTTPServerThread) -> None:
    done = run("connect", inspector.url(), "ping", "--protocol", "xmpp", "--header", "X-Test: yes",
               "--origin", "http://app.example", "--deflate")
    assert done.returncode == 0, done.stderr
    seen = described(done.stdout)
    assert seen["protocol"] == "xmpp"
    assert seen["x-test"] == "yes"
    assert seen["origin"] == "http://app.example"
    assert (seen["extensions"] or "").startswith("permessage-deflate")


def test_without_flags_no_protocol_origin_or_extension_is_offered(inspector: HTTPServerThread) -> None:
    done = run("connect", inspector.url(), "ping")
    assert done.returncode == 0, done.stderr
    assert described(done.stdout) == {"protocol": "", "x-test": None, "origin": None, "extensions": None}


def test_binary_messages_are_printed_as_hex() -> None:
    def send_binary(ws: WebSocket) -> None:
        ws.send(b"\x00\x01\xff")
        echo(ws)

    with HTTPServerThread(send_binary) as server:
        done = run("connect", server.url(), "x")
    assert done.stdout.splitlines()[0] == "<3 bytes: 0001ff>"


def test_a_close_by_the_server_is_printed_with_its_code_and_reason() -> None:
    with HTTPServerThread(close_with_4000) as server:
        done = run("connect", server.url(), input="bye\nnot sent\n")
    line = assert_one_line_error(done, 1, "closed by the server: 4000 done here")
    assert line.startswith("faye-websocket connect:")


def test_server_shutdown_ends_a_waiting_connect_with_1001_and_status_0() -> None:
    with serving() as (port, server):
        # --wait 30 but the server goes away: the command must not wait out the time
        client = subprocess.Popen([*CLI, "connect", f"ws://127.0.0.1:{port}/", "-x", "hi", "-w", "30"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert client.stdout is not None
            assert client.stdout.readline() == "hi\n"  # connected and echoed: now stop the server
            server.stop()
            stdout, stderr = client.communicate(timeout=RUN_TIMEOUT)
        finally:
            client.kill()
            client.wait(RUN_TIMEOUT)
    assert client.returncode == 0, stderr
    assert stderr.splitlines() == ["faye-websocket connect: closed by the server: 1001 server shutting down"]


def test_a_refused_handshake_fails_with_status_1() -> None:
    with serving("--origin", "http://allowed.example") as (port, _):
        done = run("connect", f"ws://127.0.0.1:{port}/", "x", "--origin", "http://other.example")
    assert_one_line_error(done, 1, "handshake failed", "403")


def test_verbose_writes_the_debug_log_to_stderr_only_when_asked() -> None:
    with serving() as (port, _):
        quiet = run("connect", f"ws://127.0.0.1:{port}/", "x")
        verbose = run("connect", f"ws://127.0.0.1:{port}/", "x", "-v")
    assert quiet.stderr == ""
    assert "DEBUG faye_websocket" in verbose.stderr and "open: HTTP 101" in verbose.stderr
    assert "faye_websocket.frames" not in verbose.stderr  # the frame trace is -vv
    assert verbose.stdout == quiet.stdout == "x\n"


def test_ca_trusts_a_private_certificate_authority(tls_certs) -> None:
    with serving("--tls", str(tls_certs.server_crt), str(tls_certs.server_key)) as (port, _):
        trusted = run("connect", f"wss://localhost:{port}/", "secret", "--ca", str(tls_certs.ca_pem))
        untrusted = run("connect", f"wss://localhost:{port}/", "secret")
        insecure = run("connect", f"wss://localhost:{port}/", "secret", "--insecure")
    assert trusted.returncode == 0 and trusted.stdout == "secret\n", trusted.stderr
    assert_one_line_error(untrusted, 1, "not trusted", "--ca FILE", "--insecure")
    assert insecure.returncode == 0 and insecure.stdout == "secret\n", insecure.stderr


def test_wss_to_a_plain_port_says_to_use_ws() -> None:
    with serving() as (port, _):
        done = run("connect", f"wss://127.0.0.1:{port}/", "x")
    assert_one_line_error(done, 1, "TLS failed", "ws://")


@pytest.mark.component
def test_proxy_flag_tunnels_through_a_real_proxy(tinyproxy_proxy: ProxyServer) -> None:
    with serving() as (port, _):
        done = run("connect", f"ws://127.0.0.1:{port}/", "via proxy", "--proxy", tinyproxy_proxy.url())
    assert done.returncode == 0, done.stderr
    assert done.stdout == "via proxy\n"


def test_proxy_flag_is_used_and_none_ignores_the_environment() -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    with serving() as (port, _):
        through_dead = run("connect", f"ws://127.0.0.1:{port}/", "x", "--proxy", dead_proxy)
        direct = run("connect", f"ws://127.0.0.1:{port}/", "x", "--proxy", "none",
                     env={"http_proxy": dead_proxy, "all_proxy": dead_proxy})
    assert_one_line_error(through_dead, 1, "refused")
    assert direct.returncode == 0 and direct.stdout == "x\n", direct.stderr


def test_sigpipe_on_stdout_is_not_a_traceback() -> None:
    with serving() as (port, _):
        client = subprocess.Popen([*CLI, "connect", f"ws://127.0.0.1:{port}/", "a", "b", "c"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert client.stdout is not None
        client.stdout.close()  # like `| head -0`
        _, stderr = client.communicate(timeout=RUN_TIMEOUT)
    assert b"Traceback" not in stderr and b"Exception ignored" not in stderr, stderr
    assert client.returncode in (0, 1)


def test_double_verbose_adds_the_frame_trace_and_credentials_stay_masked() -> None:
    with serving() as (port, _):
        done = run("connect", f"ws://127.0.0.1:{port}/", "x", "-vv",
                   "--header", "Authorization: Bearer s3cret")
    assert done.returncode == 0, done.stderr
    assert "faye_websocket.frames" in done.stderr and "send text" in done.stderr
    assert "Authorization: Bearer ***" in done.stderr and "s3cret" not in done.stderr
