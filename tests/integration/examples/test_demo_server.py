"""examples/server.py as users run it: a subprocess on a free port, spoken to over loopback."""

from __future__ import annotations

import http.client
import importlib.util
import os
import re
import signal
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed as PeerClosed
from websockets.sync.client import connect

from tests.integration.components import Process
from tests.integration.server.test_drafts import DIGEST, KEY3, draft76_head
from tests.integration.server_support import WAIT, RawClient
from tests.paths import EXAMPLES


@contextmanager
def demo(*flags: str) -> Iterator[tuple[int, Process]]:
    # Port 0: the server binds a port the kernel picks and prints it, so no other test (or
    # program) can take it between a free-port probe and the bind.
    argv = [sys.executable, str(EXAMPLES / "server.py"), "0", *flags]
    with Process(argv, name="demo", ready_line=r"Listening on \w+://[^:]+:(\d+)/") as process:
        assert process.ready_match is not None
        yield int(process.ready_match.group(1)), process


def _demo_module() -> Any:
    spec = importlib.util.spec_from_file_location("demo_server", EXAMPLES / "server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo_port() -> Iterator[int]:
    with demo() as (port, _):
        yield port


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_static_page_is_served(demo_port: int) -> None:
    status, body = get(demo_port, "/ws.html")
    assert status == 200 and b"new WebSocket" in body


@pytest.mark.parametrize("path", [
    "/../setup.cfg", "/%2e%2e/setup.cfg", "/%2E%2E%2Fsetup.cfg", "/..%2f..%2fsetup.cfg",
    "/examples/../../setup.cfg", "//etc/passwd", "/%2fetc%2fpasswd", "/../../../../etc/passwd",
    "/%252e%252e/setup.cfg", "/..\\setup.cfg", "/ws.html%00.txt", str(EXAMPLES.parent / "setup.cfg"),
])
def test_paths_outside_the_examples_folder_get_403_or_404(demo_port: int, path: str) -> None:
    status, body = get(demo_port, path)
    assert status in (403, 404), f"{path} -> {status}"
    assert b"[metadata]" not in body and b"root:" not in body


def test_symlink_pointing_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    module = _demo_module()
    root = tmp_path / "root"
    root.mkdir()
    (root / "inside.txt").write_text("ok")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (root / "escape_dir").symlink_to(tmp_path)
    assert module.resolve_static(root, "/inside.txt") == (200, root / "inside.txt")
    assert module.resolve_static(root, "/escape.txt") == (403, None)
    assert module.resolve_static(root, "/escape_dir/secret.txt") == (403, None)


def test_websocket_echo_on_any_path_with_subprotocol_and_deflate(demo_port: int) -> None:
    with connect(f"ws://127.0.0.1:{demo_port}/any/path", subprotocols=["xmpp"], open_timeout=WAIT) as client:
        assert client.subprotocol == "xmpp"
        assert "permessage-deflate" in (client.response.headers.get("Sec-WebSocket-Extensions") or "")
        client.send("hello")
        assert client.recv(timeout=WAIT) == "hello"
        client.send(b"\x00\x01\x02")
        assert client.recv(timeout=WAIT) == b"\x00\x01\x02"


def test_event_source_request_gets_the_demo_stream(demo_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", demo_port, timeout=WAIT)
    try:
        connection.request("GET", "/", headers={"Accept": "text/event-stream"})
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        seen = b""
        while b"data: Time: 1" not in seen:
            line = response.fp.readline()
            assert line, f"stream ended early: {seen!r}"
            seen += line
    finally:
        connection.close()


def test_drafts_need_the_allow_drafts_flag(demo_port: int) -> None:
    with RawClient(demo_port, request=draft76_head(), trailing=KEY3) as raw:
        assert raw.status == 400
    with demo("--allow-drafts") as (port, _), RawClient(port, request=draft76_head(), trailing=KEY3) as raw:
        assert raw.status == 101
        assert raw.read_exact(16) == DIGEST


def test_tls_flag_serves_wss_and_https_with_a_generated_certificate() -> None:
    with demo("--tls") as (port, process):
        match = re.search(r"CA to trust: (\S+)\)", process.output())
        assert match, process.output()
        context = ssl.create_default_context(cafile=match.group(1))
        with connect(f"wss://localhost:{port}/", ssl=context, open_timeout=WAIT) as client:
            client.send("secure")
            assert client.recv(timeout=WAIT) == "secure"
        connection = http.client.HTTPSConnection("localhost", port, timeout=WAIT, context=context)
        connection.request("GET", "/ws.html")
        assert connection.getresponse().status == 200
        connection.close()


def test_sigterm_closes_live_websockets_with_1001_and_exits() -> None:
    with demo() as (port, process), connect(f"ws://127.0.0.1:{port}/", open_timeout=WAIT) as client:
        client.send("x")
        client.recv(timeout=WAIT)
        os.kill(process.pid, signal.SIGTERM)
        with pytest.raises(PeerClosed) as caught:
            client.recv(timeout=WAIT)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1001


def test_demo_directory_index_that_is_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    module = _demo_module()
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret.html").write_text("secret")
    (root / "sub" / "ws.html").symlink_to(tmp_path / "secret.html")
    assert module.resolve_static(root, "/sub/") == (403, None)
    assert module.resolve_static(root, "/sub") == (403, None)


def test_demo_file_name_too_long_for_the_file_system_is_a_404(tmp_path: Path) -> None:
    # ENAMETOOLONG is not one of the errors pathlib's is_dir()/is_file() swallow: the handler
    # used to die with a traceback and no response.
    module = _demo_module()
    assert module.resolve_static(tmp_path, "/" + "a" * 300) == (404, None)
    assert module.resolve_static(tmp_path, "/" + "a/" * 3000 + "x") == (404, None)
